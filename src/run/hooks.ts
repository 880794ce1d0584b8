/** Callbacks of a run (the library never prints): warnings, the number of images to do, progress. */
export interface RunHooks {
  onWarning?: (message: string) => void;
  /** Called once the inputs are known and before the first image: how many remain to do. */
  onStart?: (todo: number) => void;
  onProgress?: (done: number, failed: number) => void;
  /** Stops the run after the image in hand; finished rows stay saved. */
  signal?: AbortSignal;
}
