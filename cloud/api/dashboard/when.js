// One way to show a time everywhere on the page, the way a clock on the wall reads:
// "14:05" today, "Mon 14:05" this past week, "6 Dec 14:05" before that.

const today = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const thisWeek = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const earlier = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export function formatTime(time, now = new Date()) {
  if (time.toDateString() === now.toDateString()) return today.format(time);
  if (Math.abs(now.getTime() - time.getTime()) < 6 * 86_400_000) return thisWeek.format(time);
  return earlier.format(time);
}

// How loud the room is, in words: the device measures in dBFS (decibels below the loudest sound
// its microphone can take), which tells a parent nothing. A quiet bedroom sits near -60, talking
// near -35, a crying baby close to the microphone above -30.
export function soundInWords(dbfs) {
  if (dbfs < -50) return "Quiet";
  if (dbfs < -30) return "Some noise";
  return "Loud";
}
