/** Datasets for DiT training: labelled images (IDX, ImageNet-layout folders), preprocessing, extracted latents. */
export { DatasetError } from "./errors.js";
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  FASHION_MNIST_PACKAGE,
  MNIST_CLASSES,
  inMemorySource,
  loadAll,
  openDataset,
  openImageSource,
  type FitMode,
  type ImageSource,
  type LabeledImageDataset,
  type OpenDatasetOptions,
  type Split,
} from "./dataset.js";
export { encodeIdxLabels, parseIdxImageBytes, parseIdxLabelBytes, readIdxImageFile, readIdxLabelFile, type IdxImages } from "./idx.js";
export { ImageFolder, IMAGE_EXTENSIONS, type ImageFolderOptions } from "./image-folder.js";
export { decodeImage, flipHorizontal, toChannels, toFloat, type U8Image } from "./image.js";
export { centerCropArr, crop, padCenter, resize, roundHalfEven, type ResampleFilter } from "./resize.js";
export { extractLatents, LatentDataset, LATENT_MAGIC, vaeFingerprint, type ExtractLatentsOptions, type ExtractLatentsResult, type LatentHeader, type LatentRecord } from "./latents.js";
