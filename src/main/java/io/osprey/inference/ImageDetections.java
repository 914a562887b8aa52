package io.osprey.inference;

import java.util.List;

/**
 * What the engine found in one image, with where the time went.
 *
 * @param inferenceNanos time inside ONNX Runtime's {@code run} alone, summed over tiles (the floor)
 * @param totalNanos     wall time of the whole image: decode, slicing, tensor fill, inference, decoding, merging
 * @param device         where the image's tiles ran: CUDA, or CPU (a CPU model, or a CUDA model's CPU twin after the
 *                       GPU ran out of memory)
 */
public record ImageDetections(int width, int height, List<Detection> detections, int tiles, int modelCalls,
                              long decodeNanos, long inferenceNanos, long totalNanos, OrtRuntime.Device device) {
}
