// Audible alarms, synthesised with WebAudio (no sound file to fetch or to fail to load).
//
// Browsers start audio only after a user gesture, so sound is off until the user taps
// "Enable sound"; that tap creates and resumes the AudioContext. Two patterns that can be told
// apart in the dark without looking: a cry is three short, soft, high beeps every two seconds;
// "may be sick" is a harsher two-tone siren (low-high, repeated) every two and a half seconds.
// An alarm repeats until it is acknowledged (its alerts marked read) or replaced.

const PATTERNS = {
  // [frequency Hz, start s, length s] within one period; `wave` is the oscillator shape.
  cry: { wave: "sine", period: 2.0, notes: [[880, 0, 0.15], [880, 0.25, 0.15], [880, 0.5, 0.15]] },
  sick: {
    wave: "square",
    period: 2.5,
    notes: [[520, 0, 0.35], [1040, 0.4, 0.35], [520, 0.8, 0.35], [1040, 1.2, 0.35]],
  },
};
const VOLUME = { cry: 0.25, sick: 0.18 }; // square waves sound louder at the same gain

export class Alarm {
  constructor() {
    this.context = null;
    this.playing = null; // "cry" | "sick" | null
    this.timer = null;
  }

  get enabled() {
    return this.context !== null && this.context.state === "running";
  }

  // Must run inside a user gesture (a click handler).
  async enable() {
    if (!this.context) this.context = new AudioContext();
    await this.context.resume();
    this.beep(660, this.context.currentTime, 0.08, "sine", 0.15); // "sound is on"
  }

  async disable() {
    this.stop();
    if (this.context) await this.context.suspend();
  }

  start(kind) {
    this.stop();
    this.playing = kind;
    document.body.dataset.alarmSound = this.enabled ? kind : "";
    if (!this.enabled) return;
    const pattern = PATTERNS[kind];
    const play = () => {
      const start = this.context.currentTime + 0.05;
      for (const [frequency, offset, length] of pattern.notes) {
        this.beep(frequency, start + offset, length, pattern.wave, VOLUME[kind]);
      }
    };
    play();
    this.timer = setInterval(play, pattern.period * 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = null;
    document.body.dataset.alarmSound = "";
  }

  beep(frequency, start, length, wave, volume) {
    const oscillator = this.context.createOscillator();
    const gain = this.context.createGain();
    oscillator.type = wave;
    oscillator.frequency.value = frequency;
    // Short ramps in and out: a hard start or stop clicks.
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(volume, start + 0.01);
    gain.gain.setValueAtTime(volume, start + length - 0.02);
    gain.gain.linearRampToValueAtTime(0, start + length);
    oscillator.connect(gain).connect(this.context.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.01);
  }
}
