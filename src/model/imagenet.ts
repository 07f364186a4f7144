/**
 * The 1000 ImageNet-1k (ILSVRC-2012) classes, bundled so that a class can be
 * asked for by name ("golden retriever" → 207) with no download at run time.
 *
 * Source of imagenet-classes.json: the standard ILSVRC-2012 `synset_words.txt`
 * (one line per class, "<wnid> <name>, <synonym>, ..."; class id = line number,
 * the wnids sorted ascending: n01440764 "tench, Tinca tinca" … n15075141
 * "toilet tissue, toilet paper, bathroom tissue"), as read from the public
 * GitHub repository IrvingShu/OpenCvandCaffeModel, path `synset_words.txt`
 * (commit 99c0fa62ca6aec0de6f94bafff00210b3053b9fb). Each line's name list was
 * split on ", " into `names`. It was cross-checked entry by entry against two
 * other public copies of the same list: the class names against
 * `imagenet1000_clsidx_to_labels.txt` (Honghe/Swin-Transformer, identical apart
 * from that copy's local "crane(bird)"/"crane(machine)" edits of 134 and 517)
 * and the wnids against Keras' `imagenet_class_index.json`
 * (yalue/slimmable_nets_rtbench). This is the order torchvision, timm and the
 * official DiT checkpoints use for class labels.
 */
import classes from "./imagenet-classes.json" with { type: "json" };
import { DitError } from "../errors.js";

/** An ImageNet class query (name or WordNet id) that matches no class or several; the message lists candidates. */
export class ImageNetClassError extends DitError {
  override name = "ImageNetClassError";
}

/** One ImageNet-1k class: its label id, WordNet synset id and names (first = the usual display name). */
export interface ImageNetClass {
  readonly id: number;
  readonly wnid: string;
  readonly names: readonly string[];
}

/** All 1000 classes, indexed by class id (`IMAGENET_CLASSES[i].id === i`). */
export const IMAGENET_CLASSES: readonly ImageNetClass[] = Object.freeze(
  (classes as ImageNetClass[]).map((c) => Object.freeze({ id: c.id, wnid: c.wnid, names: Object.freeze([...c.names]) })),
);

/** Number of ImageNet-1k classes (1000). */
export const IMAGENET_NUM_CLASSES = IMAGENET_CLASSES.length;

function checkId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= IMAGENET_NUM_CLASSES) {
    throw new RangeError(`ImageNet class id must be an integer in [0, ${IMAGENET_NUM_CLASSES - 1}], got ${id}`);
  }
  return id;
}

/** The display name (first synonym) of class `id`; RangeError unless 0 <= id < 1000 is an integer. */
export function className(id: number): string {
  return IMAGENET_CLASSES[checkId(id)]!.names[0]!;
}

const label = (c: ImageNetClass) => `${c.id}: ${c.names[0]}`;

/** Case-insensitive form used for matching; "_" counts as a space (Keras-style "golden_retriever"). */
const normalize = (s: string) => s.trim().replace(/[_\s]+/g, " ").toLowerCase();

const NORMALIZED: readonly (readonly string[])[] = IMAGENET_CLASSES.map((c) => c.names.map(normalize));

const WNID_TO_ID = new Map(IMAGENET_CLASSES.map((c) => [c.wnid, c.id]));

const MAX_LISTED = 10;

/** "id: display name", followed by the synonym that matched `q` when the display name is not it. */
function candidate(id: number, q: string): string {
  const c = IMAGENET_CLASSES[id]!;
  const names = NORMALIZED[id]!;
  if (names[0]!.includes(q)) return label(c);
  const hit = names.findIndex((n) => n.includes(q));
  return hit > 0 ? `${label(c)} (${c.names[hit]})` : label(c);
}

function ambiguous(query: string, kind: string, ids: readonly number[]): ImageNetClassError {
  const q = normalize(query);
  const shown = ids.slice(0, MAX_LISTED).map((i) => candidate(i, q));
  const more = ids.length > MAX_LISTED ? `, … (${ids.length - MAX_LISTED} more)` : "";
  return new ImageNetClassError(
    `ImageNet class "${query}" is ambiguous: ${ids.length} classes ${kind}: ${shown.join("; ")}${more}. ` +
      `Use a fuller name or the class id.`,
  );
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The (up to) `n` classes whose closest synonym is nearest to `q` by edit distance. */
function closest(q: string, n: number): ImageNetClass[] {
  const scored = NORMALIZED.map((names, id) => ({ id, d: Math.min(...names.map((name) => levenshtein(q, name))) }));
  scored.sort((x, y) => x.d - y.d || x.id - y.id);
  return scored.slice(0, n).map((s) => IMAGENET_CLASSES[s.id]!);
}

/**
 * Resolves a class to its id. `query` may be:
 * - an id: an integer 0..999, or a string of digits ("207");
 * - a WordNet id ("n02099601");
 * - a name, matched case-insensitively (and with "_" as a space) against every
 *   synonym of every class: an exact match first, then a substring match.
 *
 * When several classes match a name exactly (e.g. "panda", a synonym of both
 * 387 and 388), a class whose display name (first synonym) matches wins; when
 * that still leaves several ("crane": 134 the bird, 517 the machine), one whose
 * name matches with the same letter case wins ("Cardigan" → 264 the corgi,
 * "cardigan" → 474 the sweater). A substring match must be unique.
 *
 * @throws RangeError for an id out of range; ImageNetClassError for an empty query, an unknown wnid, an
 * ambiguous name (listing up to 10 candidates as "id: name"), or a name matching
 * nothing (suggesting the closest names).
 */
export function findClass(query: string | number): number {
  if (typeof query === "number") return checkId(query);
  const raw = query.trim();
  if (raw === "") throw new ImageNetClassError("ImageNet class query is empty");
  if (/^\d+$/.test(raw)) return checkId(Number(raw));
  if (/^n\d{8}$/i.test(raw)) {
    const id = WNID_TO_ID.get(raw.toLowerCase());
    if (id === undefined) throw new ImageNetClassError(`"${raw}" is not the WordNet id of an ImageNet-1k class`);
    return id;
  }

  const q = normalize(raw);
  const exact = NORMALIZED.flatMap((names, id) => (names.includes(q) ? [id] : []));
  if (exact.length === 1) return exact[0]!;
  if (exact.length > 1) {
    const primary = exact.filter((id) => NORMALIZED[id]![0] === q);
    const tier = primary.length > 0 ? primary : exact;
    if (tier.length === 1) return tier[0]!;
    const sameCase = tier.filter((id) => IMAGENET_CLASSES[id]!.names.some((n) => n === raw));
    if (sameCase.length === 1) return sameCase[0]!;
    throw ambiguous(raw, "have this name", exact);
  }

  const partial = NORMALIZED.flatMap((names, id) => (names.some((n) => n.includes(q)) ? [id] : []));
  if (partial.length === 1) return partial[0]!;
  if (partial.length > 1) throw ambiguous(raw, "have a name containing it", partial);

  const suggestions = closest(q, 5).map(label);
  throw new ImageNetClassError(`No ImageNet class matches "${raw}". Closest: ${suggestions.join("; ")}.`);
}
