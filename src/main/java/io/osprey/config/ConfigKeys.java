package io.osprey.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every configuration key the service reads, with its type, its allowed values and what it means.
 * Defaults live in {@code conf/osprey.json}; this table is what validation and docs/configuration.md are checked
 * against, so a key cannot be added to one place and forgotten in the other.
 */
public final class ConfigKeys {
  public enum Type { STRING, INT, LONG, BOOL }

  public record Key(String name, Type type, long min, long max, boolean allowEmpty, String meaning) {
    public String envVar() {
      return "OSPREY_" + name.toUpperCase().replace('.', '_');
    }
  }

  private static final Map<String, Key> KEYS = new LinkedHashMap<>();
  private static final Map<String, List<String>> CHOICES = Map.of("inference.device", List.of("auto", "cpu", "cuda"),
      "auth.inference_api", List.of("optional", "required"));
  /** Variables other systems of the suite already use for a key; the OSPREY_ variable wins when both are set. */
  private static final Map<String, String> ALIASES = Map.of("auth.jwks_url", "JWT_JWKS_URL");

  private static void str(String name, boolean allowEmpty, String meaning) {
    KEYS.put(name, new Key(name, Type.STRING, 0, 0, allowEmpty, meaning));
  }

  private static void num(String name, Type type, long min, long max, String meaning) {
    KEYS.put(name, new Key(name, type, min, max, false, meaning));
  }

  private static void bool(String name, String meaning) {
    KEYS.put(name, new Key(name, Type.BOOL, 0, 0, false, meaning));
  }

  static {
    str("http.host", false, "Interface the HTTP server binds to.");
    num("http.port", Type.INT, 0, 65535, "HTTP port (0 picks a free port, used by tests).");
    num("http.instances", Type.INT, 0, 1024, "HTTP verticle instances, each with its own event loop, router and"
        + " server on the shared port; 0 = one per available core.");
    str("http.cors_origins", true, "Origins (scheme://host[:port], comma-separated, exact) whose browser pages may"
        + " call every REST and event-stream route (CORS); empty = same-origin pages only; * = any origin (safe with"
        + " bearer tokens, which a foreign page must be given). A cross-origin request from an origin not listed gets 403 ORIGIN_NOT_ALLOWED.");
    num("http.header_timeout_seconds", Type.INT, 1, 3600, "A connection waiting for a request's headers (a new one, or"
        + " one kept alive after a response) is closed when they are not complete within this time (slow clients).");
    num("http.idle_timeout_seconds", Type.INT, 1, 86400, "A connection on which nothing is read or written for this"
        + " long is closed (event streams send heartbeats more often).");
    num("http.max_initial_line_bytes", Type.INT, 256, 1 << 20, "Longest request line (method, URI, version); longer"
        + " gets 414 URI_TOO_LONG.");
    num("http.max_header_bytes", Type.INT, 256, 1 << 20, "Largest total size of a request's headers; larger gets 431"
        + " HEADERS_TOO_LARGE.");
    num("http.max_form_attribute_bytes", Type.INT, 1024, 1 << 30, "Largest non-file multipart field (such as the"
        + " 'annotation' JSON of POST /annotations); it is held in memory.");
    num("http.max_form_parts", Type.INT, 1, 100000, "Most parts (files and fields) in one multipart body; more gets"
        + " 400 (TOO_MANY_FILES on the upload routes).");
    num("http.max_part_header_bytes", Type.INT, 1024, 1 << 20, "Most bytes the multipart decoder buffers while reading"
        + " one part's headers; larger part headers get 400 MALFORMED_REQUEST.");
    str("storage.root", false, "Root folder for uploaded files and results; relative paths are resolved from the working directory.");
    num("storage.tmp_max_age_minutes", Type.INT, 1, 10080,
        "Partial upload files and unregistered upload folders older than this are removed by the storage janitor.");
    num("storage.retention_days", Type.INT, 0, 36500, "Finished jobs (completed, failed, cancelled) and uploads no job"
        + " uses are deleted, rows and files, once older than this many days; 0 keeps them forever.");
    num("storage.retention_sweep_minutes", Type.INT, 1, 10080, "How often the retention sweep runs (it also runs at"
        + " once, at most every minute, while free disk space is below storage.min_free_bytes).");
    num("storage.min_free_bytes", Type.LONG, 0, 1L << 60, "Free space on the storage root's file system below which"
        + " uploads, annotation creates and media uploads get 507 INSUFFICIENT_STORAGE and readiness reports 'disk'"
        + " down; 0 disables the guard.");
    num("uploads.max_files", Type.INT, 1, 10000, "Most files accepted in one upload (spec: 100).");
    num("uploads.max_file_bytes", Type.LONG, 1, 1L << 40, "Largest accepted file in bytes (spec: 50 MB = 52428800).");
    num("uploads.min_dimension", Type.INT, 1, 1 << 20, "Smallest accepted image width and height in pixels (spec: 64).");
    num("uploads.max_dimension", Type.INT, 1, 1 << 20, "Largest accepted image width and height in pixels (spec: 8192).");
    num("images.max_pixels", Type.LONG, 1, 1L << 30, "Most pixels (width x height, read from the header) of an image"
        + " that is decoded or stored, on every route and in jobs; above it 400 INVALID_DIMENSIONS before any decode."
        + " Default 8192 x 8192, the square of uploads.max_dimension. OpenCV itself refuses more than 2^30.");
    num("images.decode_budget_pixels", Type.LONG, 1, 1L << 40, "Pixels that annotation and media requests may be"
        + " decoding at once in one process (thumbnails, decode checks); further decodes wait. Bounds native memory:"
        + " see docs/reliability.md. A decode larger than the budget runs alone.");
    num("uploads.worker_instances", Type.INT, 1, 64, "Worker verticles that inspect and store uploaded files.");
    str("postgres.host", false, "PostgreSQL host.");
    num("postgres.port", Type.INT, 1, 65535, "PostgreSQL port.");
    str("postgres.database", false, "Database name; created at start when missing and postgres.create_database is true.");
    str("postgres.user", false, "PostgreSQL user.");
    str("postgres.password", true, "PostgreSQL password (empty for trust authentication).");
    num("postgres.pool_size", Type.INT, 1, 512, "Connections in the service's PostgreSQL pool.");
    bool("postgres.create_database", "Create the database at start when it does not exist (needs CREATEDB).");
    num("postgres.connect_timeout_seconds", Type.INT, 0, 3600,
        "How long start-up keeps retrying PostgreSQL before giving up.");
    str("redis.host", false, "Redis host.");
    num("redis.port", Type.INT, 1, 65535, "Redis port.");
    str("redis.password", true, "Redis password (empty for none).");
    str("redis.key_prefix", false, "Prefix of every Redis key the service writes (lets several deployments share one Redis).");
    str("rabbitmq.host", false, "RabbitMQ host (AMQP).");
    num("rabbitmq.port", Type.INT, 1, 65535, "RabbitMQ AMQP port.");
    str("rabbitmq.user", false, "RabbitMQ user.");
    str("rabbitmq.password", true, "RabbitMQ password.");
    str("rabbitmq.vhost", false, "RabbitMQ virtual host.");
    str("rabbitmq.stream_host", false,
        "Host of RabbitMQ's stream port; also where clients connect whatever host the broker advertises.");
    num("rabbitmq.stream_port", Type.INT, 1, 65535, "RabbitMQ stream protocol port (rabbitmq_stream plugin).");
    num("health.check_timeout_ms", Type.INT, 100, 60000, "Time each readiness check may take before it counts as down.");
    str("models.dir", false, "Folder of ONNX detection models; a model is named by its file name without .onnx"
        + " (scripts/run.sh points it at ../shared/models when that exists).");
    str("models.default", false, "Model used when a request names none.");
    str("inference.device", false, "ONNX Runtime execution provider: auto (CUDA when the build has it), cpu or cuda"
        + " (refused at start by a build without CUDA). A model CUDA cannot load runs on CPU; see docs/reliability.md.");
    num("inference.intra_op_threads", Type.INT, 0, 256,
        "Threads ONNX Runtime uses inside one inference (0 = one per core).");
    num("inference.inter_op_threads", Type.INT, 1, 256, "Threads ONNX Runtime uses across independent graph nodes.");
    num("inference.batch_size", Type.INT, 1, 256,
        "Most tiles per ONNX Runtime call for models with a dynamic batch dimension (fixed-batch models take one).");
    str("jobs.queue", false, "Durable quorum queue that carries detection jobs to workers.");
    num("jobs.worker_instances", Type.INT, 1, 64,
        "Detection worker verticles in a process running the worker role (each runs one image at a time).");
    num("jobs.queued_timeout_seconds", Type.INT, 1, 7 * 86400,
        "A job still queued after this long fails with QUEUE_TIMEOUT (spec: 5 minutes).");
    num("jobs.max_deliveries", Type.INT, 1, 100,
        "A job taken by workers more often than this (workers died on it) fails with MAX_RETRIES. A job handed"
            + " back by a worker stopping gracefully (SIGTERM) is not counted.");
    num("jobs.lease_seconds", Type.INT, 5, 3600,
        "A worker's lease on the job it runs (PostgreSQL); renewed while it runs. When it expires (the worker died)"
        + " the maintenance sweep hands the job to the broker again, the take counting toward jobs.max_deliveries.");
    num("jobs.lease_renew_seconds", Type.INT, 1, 1800,
        "How often a worker renews its job lease (at most half of jobs.lease_seconds is used).");
    num("jobs.max_processing_seconds", Type.INT, 1, 30 * 86400,
        "A job running longer than this since its first start fails with PROCESSING_TIMEOUT; its results so far"
        + " are kept and its status shows how many images were processed.");
    num("jobs.retry_attempts", Type.INT, 1, 20,
        "Attempts at an image after an inference or storage error before the job fails with MAX_RETRIES.");
    num("jobs.retry_backoff_ms", Type.INT, 0, 600000, "First retry delay; each further retry waits twice as long.");
    num("jobs.rate_limit_per_minute", Type.INT, 0, 1000000,
        "Predict requests per minute (0 = unlimited) per token subject, or per client address for callers without"
        + " a token (IPv6 by /64); beyond it 429 RATE_LIMIT_EXCEEDED. Counted in Redis across instances, and in"
        + " process (per instance, same limit) while Redis is unreachable.");
    bool("jobs.rate_limit_trust_forwarded_for", "Key anonymous callers' predict budget by the last address of"
        + " X-Forwarded-For (set only behind a proxy that appends it); false: the socket's remote address.");
    num("jobs.status_cache_ttl_seconds", Type.INT, 1, 30 * 86400, "How long job status stays in Redis.");
    num("jobs.thumbnail_size", Type.INT, 16, 4096, "Longest side of result thumbnails in pixels.");
    num("jobs.jpeg_quality", Type.INT, 1, 100, "JPEG quality of annotated images and thumbnails.");
    str("rules.dir", false, "Folder of Prolog rule sets (*.pl); a job names one by file name without .pl.");
    num("rules.time_budget_ms", Type.INT, 1, 600000,
        "Longest the rules stage may take on one image before the job fails with RULES_ERROR.");
    str("auth.jwks_url", true, "URL of the identity service's JSON Web Key Set that bearer tokens are verified against"
        + " (also read from JWT_JWKS_URL, as the rest of the suite names it).");
    str("auth.jwks_file", true, "Developer mode: a local JWKS file used instead of auth.jwks_url (scripts/run.sh sets"
        + " it to var/dev-auth/jwks.json; see README). Empty outside developer mode.");
    num("auth.jwks_min_refetch_seconds", Type.INT, 0, 86400,
        "Least time between two JWKS refetches caused by tokens with an unknown key id (key rotation).");
    num("auth.leeway_seconds", Type.INT, 0, 600, "Clock skew tolerated on a token's exp, nbf and iat.");
    str("auth.inference_api", false, "optional: the detection job API (which the inference spec defines without"
        + " authentication) accepts anonymous callers and verifies a token when one is sent; required: it needs a"
        + " valid token like every annotations route.");
    str("auth.issuer", true, "When set, a token's iss must equal it exactly, else 401 (empty: not checked).");
    str("auth.audience", true, "When set, a token's aud (a string or an array) must contain it, else 401 (empty:"
        + " not checked).");
    num("auth.max_token_lifetime_seconds", Type.INT, 60, 31_536_000, "A token whose exp lies further ahead than"
        + " this (plus auth.leeway_seconds) is refused with 401, as is one without a finite numeric exp.");
    bool("console.enabled", "Serve the web console at /console/ (and redirect / there) in the API role.");
    num("console.cache_seconds", Type.INT, 0, 86_400, "Cache-Control max-age of the console's files; browsers"
        + " revalidate them with Last-Modified afterwards.");
    str("console.dev_token_file", true, "Developer mode only (with auth.jwks_file): a token file that a loopback"
        + " caller may read through GET /console/dev-token to sign the console in; scripts/run.sh sets it. Empty:"
        + " the route does not exist.");
    str("annotations.roots_base", false, "Folder that relative directory settings (PUT /settings/directories) are"
        + " resolved from; relative values are resolved from storage.root.");
    num("annotations.max_image_bytes", Type.LONG, 1, 1L << 32, "Largest image accepted by POST /annotations"
        + " (multipart, or base64 once decoded; one byte more gets 413), and largest decoded base64 'data' of a JSON"
        + " POST /media. A JSON body may be the base64 of this plus 8 MiB.");
    num("annotations.thumbnail_size", Type.INT, 16, 4096, "Longest side of annotation thumbnails in pixels.");
    num("annotations.reconcile_after_seconds", Type.INT, 0, 86400, "An annotation or media whose files are still"
        + " pending this long after its last change is repaired by the reconciler (the writer is presumed dead).");
    num("annotations.reconcile_interval_seconds", Type.INT, 1, 86400, "How often the reconciler looks for work.");
    num("annotations.max_concurrent_exports", Type.INT, 1, 1000, "Dataset exports (GET /annotations/export) one"
        + " process runs at once; each holds a database connection of its own until its download ends, so this bounds"
        + " what slow clients can hold. One more gets 429 TOO_MANY_EXPORTS with Retry-After.");
    str("annotations.classes_file", true, "JSON file of detection classes ([{id, name, shortName, color}], the shape"
        + " of GET /classes) loaded into the class catalog once, at the first start that finds the catalog empty;"
        + " default: the 80 COCO classes of the shared models. Empty: nothing is loaded. A file that cannot be read"
        + " stops the start.");
    num("media.max_request_bytes", Type.LONG, 1, 1L << 40, "Largest total of the files of one multipart POST /media"
        + " or /media/batch (streamed to disk; one byte more gets 413).");
    num("media.max_files", Type.INT, 1, 10000, "Most files in one POST /media/batch.");
    bool("outbox.enabled", "Run an outbox drainer in this API process (several may run; one publishes at a time).");
    num("outbox.batch_size", Type.INT, 1, 10000, "Outbox rows per drain batch (three PostgreSQL statements each);"
        + " two batches are in flight, the next one read and sent while the broker confirms the previous one.");
    num("outbox.poll_interval_ms", Type.INT, 10, 3600000, "Safety-net polling of the outbox; new rows wake the"
        + " drainer at once through PostgreSQL NOTIFY.");
    num("outbox.confirm_timeout_seconds", Type.INT, 1, 3600,
        "How long the drainer waits for the broker to confirm a batch before retrying it.");
    num("outbox.max_backoff_ms", Type.INT, 100, 3600000, "Longest wait between attempts while the broker is away.");
    num("outbox.missing_image_grace_seconds", Type.INT, 0, 7 * 86400, "A Created row whose image file is missing"
        + " is held this long (counted in outbox_image_missing_total), then published with imageMissing = true.");
    str("stream.name", false, "RabbitMQ stream the outbox is drained to (the spec's azaion-annotations).");
    str("stream.producer_name", false, "Name of the deduplicating producer; one per stream and deployment.");
    num("stream.max_length_bytes", Type.LONG, 0, Long.MAX_VALUE, "Retention of the stream by size, set when it is"
        + " declared (0 = no limit).");
    num("stream.max_age_hours", Type.INT, 0, 100000, "Retention of the stream by age, set when it is declared"
        + " (0 = no limit).");
    num("stream.max_message_bytes", Type.INT, 1024, 1 << 30, "Largest message body published (60 MiB: any image"
        + " annotations.max_image_bytes allows, with room for the other fields); a Created image that would exceed it"
        + " goes out without its bytes (imageOmitted: too_large). The publisher asks the broker for frames this size"
        + " plus 4 KiB; the broker's stream.frame_max (RabbitMQ's default 1 MiB; scripts/services.sh and"
        + " docker/rabbitmq set 64 MiB) caps what is agreed, and a smaller agreed frame lowers the limit (logged at"
        + " start, shown in /health/ready).");
    num("events.retention_count", Type.INT, 100, 100_000_000, "Annotation events kept in the Redis stream that"
        + " SSE clients resume from with Last-Event-ID; an older id gets a reset event.");
    num("events.heartbeat_seconds", Type.INT, 1, 3600, "Comment lines sent on idle event streams so proxies keep them open.");
    num("events.max_buffer_bytes", Type.INT, 1024, 1 << 30, "Unsent bytes a slow event-stream subscriber may"
        + " accumulate before it is disconnected (with a reason event).");
    num("events.retry_ms", Type.INT, 100, 600000, "The retry hint sent to event-stream clients (EventSource reconnect delay).");
    num("events.outage_buffer", Type.INT, 1, 10_000_000, "Annotation events an instance holds in memory while Redis"
        + " refuses them, appended in order when it is back (subscribers get them late, not never); past this many the"
        + " held events are dropped and every subscriber gets a reset event instead.");
    str("native.cache_dir", false,
        "Folder where OpenCV/JavaCPP and ONNX Runtime native libraries are unpacked once and reused across starts.");
    num("shutdown.grace_seconds", Type.INT, 0, 3600, "On SIGTERM (or close), how long a worker may take to finish"
        + " the image it is running; past it the job is handed back (another worker resumes after the images already"
        + " stored) and in-flight inference is stopped at its next tile. Model sessions are closed only after every"
        + " run on them returned.");
  }

  private ConfigKeys() {
  }

  public static List<Key> all() {
    return List.copyOf(KEYS.values());
  }

  /** Allowed values of a string key, or an empty list when any non-empty string is allowed. */
  public static List<String> choices(String name) {
    return CHOICES.getOrDefault(name, List.of());
  }

  /** The variable another system of the suite uses for this key, or null. */
  public static String alias(String name) {
    return ALIASES.get(name);
  }

  public static Key get(String name) {
    return KEYS.get(name);
  }
}
