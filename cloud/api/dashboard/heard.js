// What the monitor's detector heard, in the parents' words: "Heard: Baby cry, infant cry 93 %,
// Whimper 41 %, Speech 8 %". The labels come with a cry alert (`data.heard`, best first); an
// alert from an older monitor, an app upload or before this version has none, and shows none.

export function heardText(details) {
  const heard = Array.isArray(details?.heard) ? details.heard : [];
  const parts = heard
    .filter((item) => typeof item?.label === "string" && item.label && Number.isFinite(item.score))
    .map((item) => `${item.label} ${Math.round(item.score * 100)} %`);
  return parts.length ? `Heard: ${parts.join(", ")}` : "";
}
