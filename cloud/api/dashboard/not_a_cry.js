// "Not a cry" in the parents' words (docs/api.md, "Not a cry"): what a cry alert offers - mark
// it, or undo the mark - what an ignored cry says, and the nursery's list of sounds to ignore.
// Pure functions of the API's answers, so they are tested in Node as the browser runs them.

const localDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });

// "6 Dec 2026" in the viewer's time zone: a mark made at 00:30 local time shows as that night's
// date, not the UTC one the server's message names.
export function formatDate(time, format = localDate) {
  return format.format(time);
}

// A device id or episode id as the path of a URL.
const segment = (value) => encodeURIComponent(String(value));

// Episode ids are a device's message numbers (0 and up); JSON beyond 2^53 would not even
// arrive intact.
function isEpisodeId(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

// The episode ids a nursery's ignore list holds (`ignore_list` of GET /devices, or the answer
// of a change); null when the list is not known (an older server).
export function markedEpisodes(ignoreList) {
  if (!ignoreList || !Array.isArray(ignoreList.marks)) return null;
  return new Set(ignoreList.marks.map((mark) => mark?.episode_id).filter(isEpisodeId));
}

// What an alert's "not a cry" line shows, given the episodes its nursery has marked (a Set, or
// null when unknown):
//   {state: "none"}                                 nothing to offer (other kinds, uploads, ...)
//   {state: "markable", label, action}              a monitor's cry alert: "Not a cry"
//   {state: "marked", text, label, action}          marked: "Marked not a cry" + "Undo"
//   {state: "ignored", text, label, action}         the monitor ignored it: muted + "Undo"
//   {state: "ignored-undone", text}                 ignored, and that mark is gone since
// An action is {method, path}: the API call its button makes.
export function notACryView(alert, marked, format = localDate) {
  const details = alert?.details || {};
  if (alert?.kind === "CRY_IGNORED" && alert.device_id) {
    const like = details.ignored?.like_episode_id;
    const when = new Date(details.ignored?.marked_at);
    const text = Number.isNaN(when.getTime())
      ? "Ignored: like a sound you marked not a cry"
      : `Ignored: like the sound you marked on ${formatDate(when, format)}`;
    if (!isEpisodeId(like) || (marked && !marked.has(like))) {
      return { state: "ignored-undone", text: isEpisodeId(like) && marked ? `${text} · mark undone` : text };
    }
    const path = `/devices/${segment(alert.device_id)}/ignored-sounds/${segment(like)}`;
    return { state: "ignored", text, label: "Undo", action: { method: "DELETE", path } };
  }
  const episode = details.episode_id;
  if (alert?.kind !== "CRY_DETECTED" || !alert.device_id || alert.sick_detected || !isEpisodeId(episode)) {
    return { state: "none" };
  }
  const path = `/alerts/${segment(alert.id)}/not-a-cry`;
  if (marked && marked.has(episode)) {
    return { state: "marked", text: "Marked not a cry", label: "Undo", action: { method: "DELETE", path } };
  }
  return { state: "markable", label: "Not a cry", action: { method: "POST", path } };
}

// The nursery card's line: "Sounds to ignore: 2 (changed 14:05)", a note on what the monitor
// has done with the list, and whether "Clear" is offered. Hidden while nothing is marked and
// the monitor holds nothing either.
export function ignoreListSummary(ignoreList, formatTime) {
  if (!ignoreList || !Array.isArray(ignoreList.marks)) return { shown: false };
  const count = ignoreList.marks.length;
  const device = ignoreList.device || null;
  if (count === 0 && !(device && device.size > 0)) return { shown: false };
  const changed = device && device.changed_at ? ` (changed ${formatTime(new Date(device.changed_at))})` : "";
  let note = "";
  if (!device || device.revision === null || device.revision < ignoreList.revision) {
    note = "Waiting for the monitor to take the latest change.";
  } else if (Array.isArray(device.unknown) && device.unknown.length) {
    const n = device.unknown.length;
    note = `The monitor has no recording of ${n === 1 ? "one of them" : `${n} of them`}, so ${n === 1 ? "it changes" : "they change"} nothing.`;
  }
  // Also offered while only the monitor still holds sounds: clearing sends the list again.
  const clearable = count > 0 || Boolean(device && device.size > 0);
  return { shown: true, text: `Sounds to ignore: ${count}${changed}`, note, clearable };
}
