import { DitError } from "../errors.js";
/** Typed errors of the studies (`dit study …`). */

/** Bad input to a study: an unknown study or preset, a missing checkpoint, a failed worker. */
export class StudyError extends DitError {
  override name = "StudyError";
}

/**
 * A results or work folder that holds a study made with other settings: it is
 * refused, never mixed. `setting` names the first setting that differs
 * (a JSON path such as `recipe.steps` or `configs[3].hidden_size`).
 */
export class StudySettingsError extends StudyError {
  override name = "StudySettingsError";
  constructor(
    readonly folder: string,
    readonly setting: string,
    readonly found: unknown,
    readonly wanted: unknown,
  ) {
    super(
      `${folder} holds results of this study made with other settings: ${setting} is ${JSON.stringify(found)} there, ${JSON.stringify(wanted)} here. ` +
        `Results are never mixed: use another --results/--work folder, or delete that one to start over`,
    );
  }
}
