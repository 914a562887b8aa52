package io.osprey.bench;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.osprey.inference.Boxes;
import io.osprey.inference.Detection;
import io.osprey.inference.DetectionEngine;
import io.osprey.inference.DetectionParams;
import io.osprey.inference.ImageReader;
import io.osprey.inference.Letterbox;
import io.osprey.inference.MatchMetric;
import io.osprey.inference.MergeType;
import io.osprey.inference.Merging;
import io.osprey.inference.ModelRegistry;
import io.osprey.inference.NativeLibraries;
import io.osprey.inference.OnnxModel;
import io.osprey.inference.OrtRuntime;
import io.osprey.inference.Slicing;
import io.osprey.inference.TensorDecoder;
import io.osprey.inference.TilePreparer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntPredicate;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.bytedeco.opencv.global.opencv_imgproc.sepFilter2D;

import org.bytedeco.opencv.global.opencv_core;
import org.bytedeco.opencv.opencv_core.Mat;

/**
 * Every per-tile CPU stage of {@link DetectionEngine} timed alone on the calling thread, OpenCV limited to one
 * thread, so the sum is the CPU a tile costs one core besides inference:
 * <ul>
 *   <li>decode: the image file to BGR pixels ({@link ImageReader}, one reader for all rounds as a worker keeps
 *       one), the image's time divided by its tiles;</li>
 *   <li>slicing: {@link DetectionEngine#windows}, per tile;</li>
 *   <li>resize: {@link TilePreparer.Source#fit} as the engine runs it (antialiasing filter, once per row of
 *       slices and once for the rows two rows of slices share, and bilinear resize of each window);</li>
 *   <li>fill: {@link TilePreparer#fill} (channel split, scale and float conversion into the tensor, padding);</li>
 *   <li>out decode: {@link TensorDecoder#decode} on the model's real output for that tile;</li>
 *   <li>tile NMS: the per-tile NMS and the shift/clip into image pixels, as the engine does them;</li>
 *   <li>merge: SAHI's merge of all tiles' detections, per tile.</li>
 * </ul>
 * Each stage runs over all the image's windows {@code --reps} times per round; the figure is the median round, in
 * CPU time of the calling thread (not wall time), so that other work on a shared machine does not count. The "was"
 * columns run decode, resize and fill as they were before their buffers were reused ({@link Before}) in the same
 * rounds, and "total was" is the total with those three stages as they were.
 * Inference is run once per tile beforehand only to get real outputs to decode.
 *
 * <p>With {@code --decode-floor}, each image's decode is also timed alone in several modes ({@link #decodeFloor}).
 *
 * <p>Usage: {@code scripts/bench-tiles.sh [--models a,b] [--images x,y] [--rounds N] [--reps N] [--slice PX]
 * [--cv-threads N] [--decode-floor]}
 */
public final class TileStagesBenchmark {
  private static final String[] STAGES = {"decode", "slicing", "resize", "fill", "out decode", "tile NMS", "merge"};
  /**
   * Measured alongside but not part of the total: decode, resize and fill as they were before the buffers were
   * reused and the bands rolled (commit 29bb570, see {@link Before}).
   */
  private static final String[] BEFORE = {"decode was", "resize was", "fill was"};

  public static void main(String[] args) throws Exception {
    List<String> models = List.of("yolov8n_int8", "yolox_nano");
    List<String> images = List.of("terrain1.jpg", "small-vehicles1.jpeg");
    int rounds = 5;
    int reps = 5;
    Integer slice = null;
    int cvThreads = 1;
    boolean decodeFloor = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--models" -> models = List.of(args[++i].split(","));
        case "--images" -> images = List.of(args[++i].split(","));
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--reps" -> reps = Integer.parseInt(args[++i]);
        case "--slice" -> slice = Integer.parseInt(args[++i]);
        case "--cv-threads" -> cvThreads = Integer.parseInt(args[++i]);
        case "--decode-floor" -> decodeFloor = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    Path shared = Path.of(System.getenv().getOrDefault("OSPREY_SHARED", "../shared"));
    NativeLibraries.configure(Path.of("target", "native-cache").toAbsolutePath());
    opencv_core.setNumThreads(cvThreads);
    ModelRegistry registry = new ModelRegistry(new OrtRuntime(OrtRuntime.Device.CPU, 1, 1),
        shared.resolve("models"), models.get(0));
    System.out.printf("machine: %d cores, %s %s, java %s; OpenCV threads %d; rounds %d x reps %d; slicing %s%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
        System.getProperty("java.version"), opencv_core.getNumThreads(), rounds, reps,
        slice == null ? "SAHI auto, 0.2 overlap, full-image pass" : slice + " px, 0.2 overlap, full-image pass");
    System.out.printf("%-13s %-21s %5s", "model", "image", "tiles");
    for (String s : STAGES) {
      System.out.printf(" %10s", s);
    }
    System.out.printf(" %10s %9s %10s %10s %10s %10s%n", "total", "tiles/s", BEFORE[0], BEFORE[1], BEFORE[2],
        "total was");
    for (String modelName : models) {
      OnnxModel model = registry.get(modelName);
      for (String imageName : images) {
        DetectionParams params = DetectionParams.defaults();
        if (slice != null) {
          params = params.withSlices(slice, slice, 0.2, 0.2);
        }
        measure(model, image(shared.resolve("data/images"), imageName), params, rounds, reps);
      }
    }
    registry.close();
    if (decodeFloor) {
      System.out.printf("%ndecode alone, ms of CPU per image (median of %d rounds of %d):%n", rounds, 2 * reps);
      System.out.printf("%-21s %8s %11s %11s %11s %11s %11s %11s %9s%n", "image", "JPEG KB", "megapixels",
          "imread", "ImageReader", "reduced 1/2", "reduced 1/4", "grey", "ms per MB");
      for (String imageName : images) {
        decodeFloor(image(shared.resolve("data/images"), imageName), rounds, 2 * reps);
      }
    }
  }

  /**
   * Where the decode's CPU goes: a full decode (imread into a new Mat, and {@link ImageReader}), libjpeg-turbo's
   * reduced decodes (1/2 and 1/4 of the size: the scaled inverse DCT skips most of the transform, upsampling and
   * colour conversion, but not the entropy decoding) and the grey decode (no chroma). What the reduced ones still
   * cost is the part no output size can cut: reading the Huffman-coded data, bit by bit.
   */
  private static void decodeFloor(Path file, int rounds, int reps) throws Exception {
    int[] flags = {IMREAD_COLOR, -1, org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_2,
                   org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_REDUCED_COLOR_4,
                   org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_GRAYSCALE};
    double[] ms = new double[flags.length];
    long pixels;
    try (Mat probe = imread(file.toString(), IMREAD_COLOR); ImageReader reader = new ImageReader()) {
      pixels = probe.total();
      for (int f = 0; f < flags.length; f++) {
        long[] round = new long[rounds];
        for (int r = -1; r < rounds; r++) {
          long t0 = cpu();
          for (int i = 0; i < reps; i++) {
            if (flags[f] < 0) {
              reader.read(file);
            } else {
              imread(file.toString(), flags[f]).close();
            }
          }
          if (r >= 0) {
            round[r] = cpu() - t0;
          }
        }
        Arrays.sort(round);
        ms[f] = round[rounds / 2] / 1e6 / reps;
      }
    }
    double kb = java.nio.file.Files.size(file) / 1024.0;
    System.out.printf("%-21s %8.0f %11.2f %11.2f %11.2f %11.2f %11.2f %11.2f %9.1f%n", file.getFileName(), kb,
        pixels / 1e6, ms[0], ms[1], ms[2], ms[3], ms[4], ms[1] / (kb / 1024));
  }

  private static void measure(OnnxModel model, Path file, DetectionParams params, int rounds, int reps)
      throws Exception {
    Mat image = imread(file.toString(), IMREAD_COLOR);
    int width = image.cols();
    int height = image.rows();
    List<Slicing.Window> windows = DetectionEngine.windows(width, height, params);
    int n = windows.size();
    int plane = 3 * model.inputWidth() * model.inputHeight();
    FloatBuffer tensor = direct(plane);
    FloatBuffer output = direct(model.outputRows() * model.outputCols());
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    IntPredicate all = c -> true;
    TilePreparer preparer = new TilePreparer(model.layout(), model.inputWidth(), model.inputHeight());
    TilePreparer.Planes planes = new TilePreparer.Planes(tensor, 0, model.inputWidth(), model.inputHeight());
    Letterbox[] boxes = new Letterbox[n];
    Mat[] fitted = new Mat[n];
    FloatBuffer[] outputs = new FloatBuffer[n];
    List<List<Detection>> decoded = new ArrayList<>();
    try (OnnxTensor input = OnnxTensor.createTensor(env, tensor,
             new long[] {1, 3, model.inputHeight(), model.inputWidth()});
         OnnxTensor pinned = OnnxTensor.createTensor(env, output, new long[] {1, model.outputRows(),
             model.outputCols()})) {
      for (int k = 0; k < n; k++) {
        boxes[k] = preparer.letterbox(windows.get(k));
        fitted[k] = preparer.fit(image, windows.get(k), boxes[k]).clone();
        preparer.fill(fitted[k], boxes[k], planes);
        try (OrtSession.Result ignored = model.session().run(Map.of(model.inputName(), input), Set.of(),
            Map.<String, OnnxValue>of(model.outputName(), pinned))) {
          outputs[k] = direct(output.capacity());
          outputs[k].put(output.duplicate().rewind());
        }
        decoded.add(TensorDecoder.decode(model.layout(), outputs[k], 0, model.outputRows(), model.outputCols(),
            boxes[k], params.confidence(), all, model.classNames()));
      }
    }
    List<Detection> placedAll = new ArrayList<>();
    for (int k = 0; k < n; k++) {
      placedAll.addAll(perTile(model, params, decoded.get(k), windows.get(k), width, height));
    }

    long[][] nanos = new long[STAGES.length + BEFORE.length][rounds];
    Before before = new Before(model.inputWidth(), model.inputHeight());
    ImageReader reader = new ImageReader();
    long sink = 0;
    long[] fullPass = new long[rounds + 1];
    for (int r = -1; r < rounds; r++) { // round -1 warms up the JIT and is not counted
      long[] t = new long[STAGES.length + BEFORE.length];
      for (int rep = 0; rep < reps; rep++) {
        long t0 = cpu();
        sink += reader.read(file).cols();
        reader.trim();
        t[0] += cpu() - t0;

        t0 = cpu();
        sink += DetectionEngine.windows(width, height, params).size();
        t[1] += cpu() - t0;

        t0 = cpu();
        try (TilePreparer.Source source = preparer.source(image)) {
          for (int k = 0; k < n; k++) {
            long tk = cpu();
            sink += source.fit(windows.get(k), preparer.letterbox(windows.get(k))).cols();
            if (k == n - 1 && n > 1) {
              fullPass[r + 1] += cpu() - tk;
            }
          }
        }
        t[2] += cpu() - t0;

        t0 = cpu();
        for (int k = 0; k < n; k++) {
          preparer.fill(fitted[k], boxes[k], planes);
        }
        t[3] += cpu() - t0;

        t0 = cpu();
        for (int k = 0; k < n; k++) {
          sink += TensorDecoder.decode(model.layout(), outputs[k], 0, model.outputRows(), model.outputCols(),
              boxes[k], params.confidence(), all, model.classNames()).size();
        }
        t[4] += cpu() - t0;

        t0 = cpu();
        for (int k = 0; k < n; k++) {
          sink += perTile(model, params, decoded.get(k), windows.get(k), width, height).size();
        }
        t[5] += cpu() - t0;

        t0 = cpu();
        sink += Merging.merge(placedAll, params.postprocessType(), params.matchMetric(), params.matchThreshold(),
            params.classAgnostic()).size();
        t[6] += cpu() - t0;

        t0 = cpu();
        Mat again = imread(file.toString(), IMREAD_COLOR);
        t[7] += cpu() - t0;
        sink += again.cols();
        again.close();

        t0 = cpu();
        try (Before.Source source = before.source(image)) {
          for (int k = 0; k < n; k++) {
            sink += source.fit(preparer, windows.get(k), preparer.letterbox(windows.get(k))).cols();
          }
        }
        t[8] += cpu() - t0;

        t0 = cpu();
        for (int k = 0; k < n; k++) {
          before.fill(fitted[k], boxes[k], model.layout().rgbUnitScale());
        }
        t[9] += cpu() - t0;
      }
      if (r >= 0) {
        for (int s = 0; s < t.length; s++) {
          nanos[s][r] = t[s];
        }
      }
    }
    System.out.printf("%-13s %-21s %5d", model.name(), file.getFileName(), n);
    double total = 0;
    double[] ms = new double[nanos.length];
    for (int s = 0; s < nanos.length; s++) {
      long[] sorted = nanos[s].clone();
      Arrays.sort(sorted);
      ms[s] = sorted[rounds / 2] / 1e6 / reps / n;
    }
    for (int s = 0; s < STAGES.length; s++) {
      total += ms[s];
      System.out.printf(" %10.3f", ms[s]);
    }
    long[] full = Arrays.copyOfRange(fullPass, 1, rounds + 1);
    Arrays.sort(full);
    double totalWas = total - ms[0] - ms[2] - ms[3] + ms[7] + ms[8] + ms[9];
    System.out.printf(" %10.3f %9.0f %10.3f %10.3f %10.3f %10.3f   (full-image pass resize: %.2f ms per image)%s%n",
        total, 1000 / total, ms[7], ms[8], ms[9], totalWas, full[rounds / 2] / 1e6 / reps, sink == 42 ? " " : "");
    before.close();
    reader.close();
    for (Mat m : fitted) {
      m.close();
    }
    planes.close();
    preparer.close();
    image.close();
  }

  /**
   * A shared image, or for a name {@code NAME-12mp.jpg} a camera-sized JPEG made from the shared {@code NAME.jpg}:
   * the image and its mirror images in a 2x2 mosaic, resized to 4000x3000 (12 MP), quality 95, written once under
   * target/bench-images. The shared photos are 0.6 to 2.8 MP; what a decode costs beside its arithmetic (the pages
   * of a new buffer, which glibc takes from the kernel afresh for every allocation over 32 MB) shows at the size of
   * a camera's photo.
   */
  private static Path image(Path images, String name) {
    if (!name.endsWith("-12mp.jpg") || java.nio.file.Files.exists(images.resolve(name))) {
      return images.resolve(name);
    }
    Path made = Path.of("target", "bench-images", name);
    if (!java.nio.file.Files.exists(made)) {
      Path from = images.resolve(name.substring(0, name.length() - "-12mp.jpg".length()) + ".jpg");
      try (Mat one = imread(from.toString(), IMREAD_COLOR); Mat across = new Mat();
           Mat top = new Mat(); Mat bottom = new Mat(); Mat mosaic = new Mat(); Mat photo = new Mat()) {
        if (one.empty()) {
          throw new IllegalArgumentException("no image " + from);
        }
        opencv_core.flip(one, across, 1);
        opencv_core.hconcat(one, across, top);
        opencv_core.flip(top, bottom, 0);
        opencv_core.vconcat(top, bottom, mosaic);
        resize(mosaic, photo, new org.bytedeco.opencv.opencv_core.Size(4000, 3000), 0, 0, INTER_LINEAR);
        try {
          java.nio.file.Files.createDirectories(made.getParent());
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        org.bytedeco.opencv.global.opencv_imgcodecs.imwrite(made.toString(), photo,
            new int[] {org.bytedeco.opencv.global.opencv_imgcodecs.IMWRITE_JPEG_QUALITY, 95});
      }
    }
    return made;
  }

  /** What the engine does to one tile's detections after decoding: per-tile NMS, then shift and clip. */
  private static List<Detection> perTile(OnnxModel model, DetectionParams params, List<Detection> tile,
                                         Slicing.Window w, int width, int height) {
    if (!model.layout().selectsItself() && tile.size() > 1) {
      tile = Merging.merge(tile, MergeType.NMS, MatchMetric.IOU, params.modelNmsIou(), false);
    }
    List<Detection> placed = new ArrayList<>(tile.size());
    for (Detection d : tile) {
      Detection p = Boxes.clip(Boxes.shift(d, w.x1(), w.y1()), width, height);
      if (p != null && p.area() >= params.minBoxArea()) {
        placed.add(p);
      }
    }
    return placed;
  }

  /**
   * Decode, resize and fill as they were at commit 29bb570, kept here so that each run measures before and after
   * side by side: the image was decoded into a new Mat each time ({@code imread}); each image's slices were cut
   * from a band filtered afresh for every row of slices into a band buffer of that image's own; and a change of
   * letterbox geometry rewrote the whole of every tensor plane in grey.
   */
  static final class Before implements AutoCloseable {
    private final int inputWidth;
    private final int inputHeight;
    private final FloatBuffer tensor;
    private final Mat[] channels = new Mat[3];
    private final org.bytedeco.javacpp.FloatPointer[] starts = new org.bytedeco.javacpp.FloatPointer[3];
    private final org.bytedeco.opencv.opencv_core.MatVector bytePlanes = new org.bytedeco.opencv.opencv_core.MatVector(3);
    private final Mat resized = new Mat();
    private Letterbox padded;
    private Mat kernel;
    private double support;

    Before(int inputWidth, int inputHeight) {
      this.inputWidth = inputWidth;
      this.inputHeight = inputHeight;
      int plane = inputWidth * inputHeight;
      tensor = direct(3 * plane);
      for (int c = 0; c < 3; c++) {
        FloatBuffer slice = tensor.duplicate().position(c * plane).limit((c + 1) * plane).slice();
        starts[c] = new org.bytedeco.javacpp.FloatPointer(slice);
        channels[c] = new Mat(inputHeight, inputWidth, opencv_core.CV_32FC1, starts[c]);
      }
    }

    Source source(Mat image) {
      return new Source(image);
    }

    /** TilePreparer.Source as it was: a band buffer per image, every band filtered in full. */
    final class Source implements AutoCloseable {
      private final Mat image;
      private final Mat band = new Mat();
      private double bandSupport = Double.NaN;
      private int bandTop = -1;
      private int bandBottom = -1;

      Source(Mat image) {
        this.image = image;
      }

      Mat fit(TilePreparer preparer, Slicing.Window window, Letterbox box) {
        boolean wholeWidth = window.x1() == 0 && window.width() == image.cols();
        boolean resizes = box.resizedWidth() != window.width() || box.resizedHeight() != window.height();
        if (wholeWidth || !resizes || box.scale() >= 1.0 || halves(window, box)) {
          return preparer.fit(image, window, box);
        }
        double s = 1.0 / box.scale();
        if (s != bandSupport || window.y1() != bandTop || window.y2() != bandBottom) {
          Mat filter = triangle(s);
          try (org.bytedeco.opencv.opencv_core.Rect rows = new org.bytedeco.opencv.opencv_core.Rect(0, window.y1(),
                   image.cols(), window.height());
               Mat source = new Mat(image, rows)) {
            sepFilter2D(source, band, -1, filter, filter);
          }
          bandSupport = s;
          bandTop = window.y1();
          bandBottom = window.y2();
        }
        try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
          Mat input = band.apply(new org.bytedeco.opencv.opencv_core.Rect(window.x1(), 0, window.width(),
              window.height()));
          resize(input, resized, new org.bytedeco.opencv.opencv_core.Size(box.resizedWidth(), box.resizedHeight()),
              0, 0, INTER_LINEAR);
        }
        return resized;
      }

      @Override
      public void close() {
        band.close();
      }
    }

    /** Whether TilePreparer halves this window first (its HALVING_RESIDUAL of 2: shrinks of 4 or more). */
    private static boolean halves(Slicing.Window window, Letterbox box) {
      double shrink = 1.0 / box.scale();
      return shrink / 2 >= 2.0 && window.width() >= 2 * box.resizedWidth()
          && window.height() >= 2 * box.resizedHeight();
    }

    /** TilePreparer.fill as it was: a new geometry rewrote every plane in full. */
    void fill(Mat fitted, Letterbox box, boolean rgbUnitScale) {
      double alpha = rgbUnitScale ? 1.0 / 255.0 : 1.0;
      try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
        if (!box.equals(padded)) {
          try (org.bytedeco.opencv.opencv_core.Scalar grey = new org.bytedeco.opencv.opencv_core.Scalar(114 * alpha)) {
            for (Mat channel : channels) {
              channel.put(grey);
            }
          }
          padded = box;
        }
        opencv_core.split(fitted, bytePlanes);
        org.bytedeco.opencv.opencv_core.Rect inside = new org.bytedeco.opencv.opencv_core.Rect(box.padLeft(),
            box.padTop(), box.resizedWidth(), box.resizedHeight());
        for (int c = 0; c < 3; c++) {
          int target = rgbUnitScale ? 2 - c : c;
          bytePlanes.get(c).convertTo(channels[target].apply(inside), opencv_core.CV_32F, alpha, 0.0);
        }
      }
    }

    private Mat triangle(double s) {
      if (kernel != null && support == s) {
        return kernel;
      }
      if (kernel != null) {
        kernel.close();
      }
      int radius = Math.max(0, (int) Math.ceil(s) - 1);
      float[] w = new float[2 * radius + 1];
      float sum = 0;
      for (int k = -radius; k <= radius; k++) {
        w[k + radius] = (float) Math.max(0, 1 - Math.abs(k) / s);
        sum += w[k + radius];
      }
      kernel = new Mat(w.length, 1, opencv_core.CV_32FC1);
      try (org.bytedeco.javacpp.FloatPointer data = new org.bytedeco.javacpp.FloatPointer(kernel.data())) {
        for (int i = 0; i < w.length; i++) {
          data.put(i, w[i] / sum);
        }
      }
      support = s;
      return kernel;
    }

    @Override
    public void close() {
      resized.close();
      bytePlanes.close();
      for (int c = 0; c < 3; c++) {
        channels[c].close();
        starts[c].close();
      }
      if (kernel != null) {
        kernel.close();
      }
    }
  }

  private static final java.lang.management.ThreadMXBean THREADS =
      java.lang.management.ManagementFactory.getThreadMXBean();

  /**
   * This thread's CPU time: on a machine shared with other work, wall time counts the time the thread waited for a
   * core; CPU time counts only what the stage cost. (Every stage runs on this thread, OpenCV on one thread.)
   */
  private static long cpu() {
    return THREADS.getCurrentThreadCpuTime();
  }

  private static FloatBuffer direct(int floats) {
    return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
