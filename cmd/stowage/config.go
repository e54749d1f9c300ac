package main

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/stowage/stowage/cdn"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/inline"
)

// Secret is a configuration value that must never reach a log line or an error message.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Config is every setting Stowage reads, under the reference server's environment names.
// A tag `env:"NAME,LEGACY"` lists the primary name first; legacy names from the Supabase
// self-hosting files are honoured when the primary one is empty.
type Config struct {
	Host           string `env:"SERVER_HOST,HOST" default:"0.0.0.0" help:"address the API listens on"`
	Port           int    `env:"SERVER_PORT,PORT" default:"5000" help:"port of the REST API (and S3 under /s3)"`
	S3Port         int    `env:"S3_PORT" default:"0" help:"optional dedicated S3 listener (path- and virtual-host-style at its root); 0 = off"`
	S3Domains      string `env:"S3_VIRTUAL_HOST_DOMAINS" default:"localhost" help:"comma-separated host names under which the S3 listener takes virtual-hosted-style requests (<bucket>.<domain>)"`
	Region         string `env:"SERVER_REGION,REGION" default:"not-specified" help:"region label; also the S3 region when STORAGE_S3_REGION is unset"`
	Version        string `env:"VERSION" default:"" help:"returned by GET /version (default: the build version)"`
	KeepAlive      int    `env:"SERVER_KEEP_ALIVE_TIMEOUT" default:"61" help:"seconds an idle keep-alive connection stays open"`
	HeadersTimeout int    `env:"SERVER_HEADERS_TIMEOUT" default:"65" help:"seconds allowed to send request headers"`
	RequestTimeout int    `env:"SERVER_REQUEST_TIMEOUT" default:"3600" help:"seconds allowed for a whole request including its body (uploads); size it for the largest upload at the slowest client"`
	ShutdownGrace  int    `env:"SERVER_SHUTDOWN_TIMEOUT" default:"30" help:"seconds in-flight requests get to finish on SIGINT/SIGTERM"`
	LogLevel       string `env:"LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"log level (JSON logs on stdout)"`
	RequestIDHdr   string `env:"REQUEST_TRACE_HEADER,REQUEST_ID_HEADER" default:"" help:"request header whose value becomes the request id"`

	DataDir         string `env:"STOWAGE_DATA_DIR" default:"./data" help:"folder for the embedded Postgres, generated secrets and the default file backend"`
	DatabaseURL     Secret `env:"DATABASE_URL" default:"" help:"Postgres URL; empty: start a private Postgres under STOWAGE_DATA_DIR"`
	DBMaxConns      int    `env:"DATABASE_MAX_CONNECTIONS" default:"20" help:"database pool size"`
	DBConnTimeout   int    `env:"DATABASE_CONNECTION_TIMEOUT" default:"3000" help:"database connect timeout (ms); also the longest wait for a pooled connection (then REST 544 DatabaseTimeout, S3 503)"`
	DBStmtTimeout   int    `env:"DATABASE_STATEMENT_TIMEOUT" default:"30000" help:"statement_timeout of every transaction (ms); the client abandons a statement (REST 544, S3 503) 10% (at least 1 s) later; 0 = off, the client then waits at most 5 min"`
	DBMinConns      int    `env:"DATABASE_MIN_CONNECTIONS" default:"2" help:"database connections the pool keeps when idle"`
	DBIdleTimeout   int    `env:"DATABASE_IDLE_TIMEOUT" default:"30000" help:"ms a pooled database connection may stay idle before it is closed (down to DATABASE_MIN_CONNECTIONS); 0 = never"`
	DBInstallRoles  bool   `env:"DB_INSTALL_ROLES" default:"false" help:"let migrations create missing roles (always on for the embedded Postgres)"`
	DBAnonRole      string `env:"DB_ANON_ROLE" default:"anon" help:"Postgres role of anonymous requests"`
	DBAuthRole      string `env:"DB_AUTHENTICATED_ROLE" default:"authenticated" help:"Postgres role of signed-in users"`
	DBServiceRole   string `env:"DB_SERVICE_ROLE" default:"service_role" help:"Postgres role of the service key (bypasses RLS)"`
	DBSuperUser     string `env:"DB_SUPER_USER" default:"postgres" help:"owner role used by migrations"`
	TenantID        string `env:"PROJECT_REF,TENANT_ID" default:"storage-single-tenant" help:"tenant id: first segment of every backend key"`
	JWTSecret       Secret `env:"AUTH_JWT_SECRET,PGRST_JWT_SECRET" default:"" help:"HMAC secret of user JWTs (raw string bytes); generated in embedded mode when unset"`
	JWTAlgorithm    string `env:"AUTH_JWT_ALGORITHM,PGRST_JWT_ALGORITHM" default:"HS256" enum:"HS256,HS384,HS512" help:"algorithm of AUTH_JWT_SECRET tokens"`
	JWKS            Secret `env:"JWT_JWKS,AUTH_JWT_JWKS" default:"" help:"JSON Web Key Set for asymmetric (and extra) JWT keys"`
	AnonKey         Secret `env:"ANON_KEY" default:"" help:"anon JWT (generated when unset)"`
	ServiceKey      Secret `env:"SERVICE_KEY" default:"" help:"service_role JWT (generated when unset)"`
	S3AccessKeyID   string `env:"S3_PROTOCOL_ACCESS_KEY_ID" default:"" help:"access key id of the S3 service credentials; generated in embedded mode when unset"`
	S3AccessSecret  Secret `env:"S3_PROTOCOL_ACCESS_KEY_SECRET" default:"" help:"secret of the S3 service credentials"`
	Backend         string `env:"STORAGE_BACKEND" default:"file" enum:"file,s3" help:"where object bytes live"`
	FilePath        string `env:"STORAGE_FILE_BACKEND_PATH,FILE_STORAGE_BACKEND_PATH" default:"" help:"root folder of the file backend (default STOWAGE_DATA_DIR/storage)"`
	S3Bucket        string `env:"STORAGE_S3_BUCKET,GLOBAL_S3_BUCKET" default:"" help:"backend bucket (also a sub-folder of the file backend root)"`
	S3Endpoint      string `env:"STORAGE_S3_ENDPOINT,GLOBAL_S3_ENDPOINT" default:"" help:"upstream S3 endpoint (MinIO, R2, ...)"`
	S3Region        string `env:"STORAGE_S3_REGION" default:"" help:"upstream S3 region; also the region of the S3 protocol"`
	S3PathStyle     bool   `env:"STORAGE_S3_FORCE_PATH_STYLE,GLOBAL_S3_FORCE_PATH_STYLE" default:"false" help:"path-style addressing for the upstream S3"`
	S3MaxSockets    int    `env:"STORAGE_S3_MAX_SOCKETS,GLOBAL_S3_MAX_SOCKETS" default:"200" help:"connection pool size towards the upstream S3"`
	S3PartSize      int    `env:"STORAGE_S3_UPLOAD_PART_SIZE" default:"16777216" help:"part size (bytes, 5 MiB to 5 GiB) of streamed uploads of unknown size to the upstream S3; each such upload buffers at most two parts"`
	S3ClientTimeout int    `env:"STORAGE_S3_CLIENT_TIMEOUT" default:"0" help:"ms an upstream S3 call without a body may take, and the longest wait for an answer's headers; 0 = no whole-call limit (headers still within 5 minutes)"`
	S3CABundle      string `env:"AWS_CA_BUNDLE" default:"" help:"PEM file of extra CA certificates for an https upstream S3 (ignored for http endpoints); upstream credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS SDK's default chain"`
	FileSizeLimit   string `env:"UPLOAD_FILE_SIZE_LIMIT,FILE_SIZE_LIMIT" default:"53687091200" help:"largest object, in bytes or like 50GB (decimal units); caps bucket limits"`
	StandardLimit   string `env:"UPLOAD_FILE_SIZE_LIMIT_STANDARD,FILE_SIZE_LIMIT_STANDARD_UPLOAD" default:"0" help:"extra cap for single-request uploads; 0 = off"`
	SignedUploadTTL int    `env:"UPLOAD_SIGNED_URL_EXPIRATION_TIME,SIGNED_UPLOAD_URL_EXPIRATION_TIME" default:"60" help:"seconds a signed upload URL stays valid"`
	SMaxAge         int    `env:"RESPONSE_S_MAXAGE" default:"0" help:"s-maxage (seconds) added to Cache-Control of conditional downloads; 0 = off"`
	EmptyBucketMax  int    `env:"STORAGE_EMPTY_BUCKET_MAX" default:"200000" help:"largest bucket POST /bucket/{id}/empty accepts (objects)"`
	TUSURLPath      string `env:"TUS_URL_PATH" default:"/upload/resumable" help:"path of resumable (TUS) uploads"`
	PublicURL       string `env:"STORAGE_PUBLIC_URL" default:"" help:"public base URL of the server behind a proxy: scheme and host of TUS Location URLs, and (single-tenant mode) the host S3 signatures are checked against"`
	AllowFwdPath    bool   `env:"REQUEST_ALLOW_X_FORWARDED_PATH" default:"false" help:"honour X-Forwarded-Prefix in TUS Location URLs and in the path S3 signatures are checked against"`
	NodeEnv         string `env:"NODE_ENV" default:"" help:"production forces https in TUS Location URLs"`
	S3Prefix        string `env:"S3_PROTOCOL_PREFIX" default:"" help:"path prefix S3 clients signed that a proxy in front strips (e.g. /storage/v1)"`
	S3AllowFwdHdr   bool   `env:"S3_ALLOW_FORWARDED_HEADER" default:"false" help:"check S3 signatures against the host= of the Forwarded header"`
	S3HostHeader    string `env:"S3_PROTOCOL_NON_CANONICAL_HOST_HEADER" default:"" help:"header whose value S3 signatures are checked against as the host"`
	S3EnforceRegion bool   `env:"S3_PROTOCOL_ENFORCE_REGION" default:"false" help:"refuse S3 signatures whose credential scope names another region than the S3 protocol's (STORAGE_S3_REGION, else SERVER_REGION), as AWS does; off: any region is accepted"`
	S3AllowSigV2    bool   `env:"S3_PROTOCOL_ALLOW_SIGV2" default:"true" help:"accept S3 Signature Version 2: headers and presigned URLs at the S3 listener's root, browser POST forms everywhere; false answers them 400 InvalidRequest, as S3 regions that accept only SigV4"`
	TUSURLExpiry    int    `env:"TUS_URL_EXPIRY_MS" default:"86400000" help:"ms a resumable (TUS) upload may stay incomplete before its URL expires and its parts are swept (at most 24 h)"`
	MetricsEnabled  bool   `env:"STOWAGE_METRICS_ENABLED" default:"true" help:"serve Prometheus metrics at /metrics"`
	SweepInterval   int    `env:"STOWAGE_SWEEP_INTERVAL" default:"60" help:"seconds between sweeps of leftover blobs from interrupted writes"`
	MultipartExpiry int    `env:"STOWAGE_MULTIPART_EXPIRY" default:"86400" help:"seconds an S3 multipart upload may stay incomplete before a sweep aborts it and deletes its parts (1 to 2592000, 30 days); resumable (TUS) uploads expire by TUS_URL_EXPIRY_MS instead"`
	RequestBodyJSON int    `env:"STOWAGE_JSON_BODY_LIMIT" default:"1048576" help:"largest JSON/XML request body (bytes)"`
	LifecycleDay    int    `env:"STOWAGE_LIFECYCLE_DAY_SECONDS" default:"86400" help:"seconds one \"day\" of an S3 lifecycle rule lasts (1 to 86400); shrink it only to test expiry rules in seconds"`
	InlineMax       int    `env:"STOWAGE_INLINE_MAX_BYTES" default:"8192" help:"file backend: objects of at most this many bytes (0 to 1048576) keep their bytes in Postgres (stowage.small_blobs) instead of a file each; 0 = every object in a file (docs/engine.md, docs/compatibility.md)"`
	HostRegexp      string `env:"REQUEST_X_FORWARDED_HOST_REGEXP,X_FORWARDED_HOST_REGEXP" default:"" help:"multi-tenant mode: regular expression matched against X-Forwarded-Host; its first capture group is the request's tenant id (requests that do not match answer 400 InvalidRequest)"`

	ImageTransform     bool   `env:"IMAGE_TRANSFORMATION_ENABLED,ENABLE_IMAGE_TRANSFORMATION" default:"true" help:"mount /render/image; on by default because libvips is built in (a cgo-free build answers FeatureNotEnabled unless IMGPROXY_URL is set)"`
	ImgproxyURL        string `env:"IMGPROXY_URL" default:"" help:"render through this imgproxy instead of the built-in libvips"`
	ImgproxySourceURL  string `env:"STOWAGE_IMGPROXY_SOURCE_URL" default:"" help:"base URL imgproxy fetches originals from (signed /object/sign URLs); default http://127.0.0.1:SERVER_PORT"`
	ImageMinSize       int    `env:"IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE" default:"1" help:"smallest width/height a transformation may ask for (smaller values are clamped)"`
	ImageMaxSize       int    `env:"IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE" default:"2500" help:"largest width/height a transformation may ask for (larger values are clamped)"`
	RenderConcurrency  int    `env:"STOWAGE_RENDER_CONCURRENCY" default:"0" help:"transformations running at once; more wait (then 429); 0 = CPU count"`
	RenderTimeout      int    `env:"STOWAGE_RENDER_TIMEOUT" default:"15" help:"seconds a transformation may wait for a slot (then 429) and may run (then 503)"`
	RenderCacheSize    string `env:"STOWAGE_RENDER_CACHE_SIZE" default:"1GB" help:"disk cap of rendered variants under STOWAGE_DATA_DIR/render-cache (least recently used go first); 0 = no cache"`
	RenderMaxSource    string `env:"STOWAGE_RENDER_MAX_SOURCE_BYTES" default:"25MB" help:"largest original that is transformed"`
	RenderMaxMegapixel int    `env:"STOWAGE_RENDER_MAX_MEGAPIXELS" default:"50" help:"largest original resolution (megapixels, read from the header before decoding)"`
	Libvips            string `env:"STOWAGE_LIBVIPS" default:"" help:"libvips library the built-in renderer loads on its first render (comma-separated names or paths, tried in order); default libvips.so.42, then libvips.so. When none loads, renders answer FeatureNotEnabled"`

	CDNPurgeURL       string `env:"CDN_PURGE_ENDPOINT_URL" default:"" help:"purge service of the CDN in front of Stowage: DELETE /cdn routes POST to <url>/purge; empty: they answer MissingParameter"`
	CDNPurgeKey       Secret `env:"CDN_PURGE_ENDPOINT_KEY" default:"" help:"Bearer token sent to CDN_PURGE_ENDPOINT_URL"`
	Console           string `env:"STOWAGE_CONSOLE" default:"auto" enum:"auto,true,false" help:"serve the web console and storage report at /console; auto = on in embedded development mode only"`
	AdminPort         int    `env:"SERVER_ADMIN_PORT,ADMIN_PORT" default:"5001" help:"port of the admin API (docs/admin.md); it listens only when ADMIN_API_KEYS is set"`
	AdminAPIKeys      Secret `env:"SERVER_ADMIN_API_KEYS,ADMIN_API_KEYS" default:"" help:"comma-separated keys of the admin API (its apikey header); unset: no admin listener"`
	EncryptionKey     Secret `env:"AUTH_ENCRYPTION_KEY,ENCRYPTION_KEY" default:"" help:"passphrase the secrets of admin-created S3 credentials and keys are stored under (the reference's format); required with ADMIN_API_KEYS"`
	WebhookURL        string `env:"WEBHOOK_URL" default:"" help:"POST every object and bucket event here, with the reference server's webhook body (docs/events.md)"`
	WebhookAPIKey     Secret `env:"WEBHOOK_API_KEY" default:"" help:"sent to WEBHOOK_URL as Authorization: Bearer <key>"`
	WebhookTimeout    int    `env:"WEBHOOK_REQUEST_TIMEOUT" default:"4000" help:"ms one webhook or notification delivery may take before it counts as failed"`
	EventsNotify      string `env:"STOWAGE_EVENTS_NOTIFY_CHANNEL" default:"" help:"also send every event as a Postgres NOTIFY on this channel (payload: event id, type, bucket, name)"`
	S3NotifyTargets   string `env:"STOWAGE_NOTIFY_WEBHOOKS" default:"" help:"comma-separated NAME=URL webhook targets S3 bucket notification configurations may name as arn:minio:sqs::NAME:webhook"`
	EventsDispatch    bool   `env:"STOWAGE_EVENTS_DISPATCH" default:"true" help:"deliver events from this gateway (gateways on one database share the work); false: only record them"`
	EventsPoll        int    `env:"WEBHOOK_QUEUE_PULL_INTERVAL" default:"700" help:"ms between looks at an idle event outbox"`
	EventsInFlight    int    `env:"STOWAGE_EVENTS_IN_FLIGHT" default:"16" help:"deliveries under way at once per target, per gateway"`
	EventsMaxAttempts int    `env:"STOWAGE_EVENTS_MAX_ATTEMPTS" default:"10" help:"failed attempts after which a delivery is dead-lettered (stowage events dead / redrive)"`
	EventsMaxAge      int    `env:"STOWAGE_EVENTS_MAX_AGE" default:"86400" help:"seconds after its event's commit when a failing delivery is dead-lettered"`
	EventsBackoff     int    `env:"STOWAGE_EVENTS_BACKOFF" default:"1000" help:"ms before the first retry; doubled per failed attempt (with jitter) up to STOWAGE_EVENTS_BACKOFF_MAX"`
	EventsBackoffMax  int    `env:"STOWAGE_EVENTS_BACKOFF_MAX" default:"300000" help:"longest ms between retries"`
	EventsRetention   int    `env:"STOWAGE_EVENTS_RETENTION" default:"86400" help:"seconds delivered events are kept in the outbox (stowage.events)"`
	S3NotifyTokens    Secret `env:"STOWAGE_NOTIFY_WEBHOOK_TOKENS" default:"" help:"comma-separated NAME=TOKEN: notifications to the STOWAGE_NOTIFY_WEBHOOKS target NAME carry Authorization: Bearer TOKEN (MinIO's per-target auth_token)"`
	CDNAutoPurge      bool   `env:"STOWAGE_CDN_AUTO_PURGE" default:"false" help:"purge an object of a public bucket from the CDN (CDN_PURGE_ENDPOINT_URL, with its rendered variants) when it is overwritten, moved or deleted; delivered through the event outbox"`
	EventsTenantSweep int    `env:"STOWAGE_EVENTS_TENANT_SWEEP" default:"60" help:"multi-tenant mode: seconds between sweeps that deliver the due events of tenants with no live stack on this gateway (docs/multitenant.md)"`

	MultiTenant          bool   `env:"MULTI_TENANT,IS_MULTITENANT" default:"false" help:"serve many tenants listed in the control database DATABASE_MULTITENANT_URL (docs/admin.md); tenants are managed through the admin API"`
	MTDatabaseURL        Secret `env:"DATABASE_MULTITENANT_URL,MULTITENANT_DATABASE_URL" default:"" help:"control database of multi-tenant mode (the reference's tenants table); required with MULTI_TENANT"`
	MTDatabasePoolURL    Secret `env:"DATABASE_MULTITENANT_POOL_URL" default:"" help:"external pooler in front of the control database, used for queries (DATABASE_MULTITENANT_URL still for migrations and LISTEN)"`
	MTDatabaseMaxConns   int    `env:"DATABASE_MULTITENANT_MAX_CONNECTIONS" default:"10" help:"control database pool size"`
	DBMigrationsStrategy string `env:"DB_MIGRATIONS_STRATEGY" default:"on_request" help:"multi-tenant: when tenant databases are migrated: on_request, progressive (both: by the request that finds a tenant behind) or full_fleet (also a fleet job at start); docs/multitenant.md"`
	TenantPoolCacheMax   int    `env:"TENANT_POOL_CACHE_MAX_ENTRIES" default:"1000" help:"tenant database pools kept open at once in multi-tenant mode (least recently used closed first)"`
	AdminReturnSensitive bool   `env:"ADMIN_RETURN_TENANT_SENSITIVE_DATA" default:"true" help:"admin GET /tenants answers include tenant secrets (anonKey, databaseUrl, databasePoolUrl, jwtSecret, jwks, serviceKey); false omits them"`
}

// envTag is one parsed field of Config.
type envTag struct {
	names    []string
	def      string
	enum     []string
	help     string
	field    reflect.StructField
	fieldIdx int
}

func configFields() []envTag {
	t := reflect.TypeOf(Config{})
	out := make([]envTag, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := envTag{names: strings.Split(f.Tag.Get("env"), ","), def: f.Tag.Get("default"), help: f.Tag.Get("help"), field: f, fieldIdx: i}
		if e := f.Tag.Get("enum"); e != "" {
			tag.enum = strings.Split(e, ",")
		}
		out = append(out, tag)
	}
	return out
}

// LoadConfig reads every setting through getenv (os.Getenv in main, a map in tests). Every bad
// variable is reported by name; unknown values are errors, not silent fallbacks.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	v := reflect.ValueOf(&cfg).Elem()
	var errs []error
	for _, tag := range configFields() {
		name, raw := tag.names[0], ""
		for _, n := range tag.names {
			if s := strings.TrimSpace(getenv(n)); s != "" {
				name, raw = n, s
				break
			}
		}
		if raw == "" {
			raw = tag.def
		}
		if tag.enum != nil && !contains(tag.enum, raw) {
			errs = append(errs, fmt.Errorf("%s=%q: must be one of %s", name, raw, strings.Join(tag.enum, ", ")))
			continue
		}
		if err := setField(v.Field(tag.fieldIdx), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, raw, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func setField(f reflect.Value, raw string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return errors.New("must be a whole number")
		}
		if n < 0 {
			return errors.New("must not be negative")
		}
		f.SetInt(int64(n))
	case reflect.Bool:
		switch strings.ToLower(raw) {
		case "true", "1":
			f.SetBool(true)
		case "false", "0":
			f.SetBool(false)
		default:
			return errors.New("must be true or false")
		}
	default:
		return fmt.Errorf("unsupported kind %s", f.Kind())
	}
	return nil
}

// maxMultipartExpiry bounds STOWAGE_MULTIPART_EXPIRY (seconds): parts of an abandoned
// upload must not be kept for ever.
const maxMultipartExpiry = 30 * 24 * 3600

func (c *Config) validate() error {
	var errs []error
	port := func(name string, p int, zeroOK bool) {
		if (p == 0 && !zeroOK) || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%d: must be a TCP port (1-65535)", name, p))
		}
	}
	port("SERVER_PORT", c.Port, false)
	port("S3_PORT", c.S3Port, true)
	if c.S3Port != 0 && c.S3Port == c.Port {
		errs = append(errs, fmt.Errorf("S3_PORT=%d: must differ from SERVER_PORT", c.S3Port))
	}
	if _, err := gateway.ParseSize(c.FileSizeLimit); err != nil {
		errs = append(errs, fmt.Errorf("UPLOAD_FILE_SIZE_LIMIT=%q: %w", c.FileSizeLimit, err))
	}
	if _, err := gateway.ParseSize(c.StandardLimit); err != nil {
		errs = append(errs, fmt.Errorf("UPLOAD_FILE_SIZE_LIMIT_STANDARD=%q: %w", c.StandardLimit, err))
	}
	for name, v := range map[string]string{"STOWAGE_RENDER_CACHE_SIZE": c.RenderCacheSize, "STOWAGE_RENDER_MAX_SOURCE_BYTES": c.RenderMaxSource} {
		if _, err := gateway.ParseSize(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	}
	if c.ImageMinSize < 1 || c.ImageMaxSize < c.ImageMinSize {
		errs = append(errs, fmt.Errorf("IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE=%d, IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE=%d: need 1 <= min <= max", c.ImageMinSize, c.ImageMaxSize))
	}
	if c.TUSURLExpiry < 1 || c.TUSURLExpiry > 86400000 {
		errs = append(errs, fmt.Errorf("TUS_URL_EXPIRY_MS=%d: must be between 1 and 86400000 (24 h)", c.TUSURLExpiry))
	}
	if c.InlineMax < 0 || c.InlineMax > inline.MaxLimit {
		errs = append(errs, fmt.Errorf("STOWAGE_INLINE_MAX_BYTES=%d: must be between 0 and %d", c.InlineMax, inline.MaxLimit))
	}
	if c.LifecycleDay < 1 || c.LifecycleDay > 86400 {
		errs = append(errs, fmt.Errorf("STOWAGE_LIFECYCLE_DAY_SECONDS=%d: must be between 1 and 86400", c.LifecycleDay))
	}
	if c.MultipartExpiry < 1 || c.MultipartExpiry > maxMultipartExpiry {
		errs = append(errs, fmt.Errorf("STOWAGE_MULTIPART_EXPIRY=%d: must be between 1 and %d seconds (30 days)", c.MultipartExpiry, maxMultipartExpiry))
	}
	if !strings.HasPrefix(c.TUSURLPath, "/") {
		errs = append(errs, fmt.Errorf("TUS_URL_PATH=%q: must start with /", c.TUSURLPath))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("STORAGE_PUBLIC_URL=%q: want an http or https URL", c.PublicURL))
		}
	}
	if c.CDNPurgeURL != "" {
		if _, err := cdn.PurgeURL(c.CDNPurgeURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.S3Prefix != "" && !strings.HasPrefix(c.S3Prefix, "/") {
		errs = append(errs, fmt.Errorf("S3_PROTOCOL_PREFIX=%q: must start with /", c.S3Prefix))
	}
	if c.Backend == "s3" && c.S3Bucket == "" {
		errs = append(errs, errors.New("STORAGE_S3_BUCKET: required when STORAGE_BACKEND=s3"))
	}
	if c.S3PartSize < 5<<20 || c.S3PartSize > 5<<30 {
		errs = append(errs, fmt.Errorf("STORAGE_S3_UPLOAD_PART_SIZE=%d: must be between 5 MiB (5242880) and 5 GiB", c.S3PartSize))
	}
	if c.DatabaseURL != "" && c.JWTSecret == "" && c.JWKS == "" {
		errs = append(errs, errors.New("AUTH_JWT_SECRET: required when DATABASE_URL is set (only the embedded mode generates one)"))
	}
	if (c.S3AccessKeyID == "") != (c.S3AccessSecret == "") {
		errs = append(errs, errors.New("S3_PROTOCOL_ACCESS_KEY_ID and S3_PROTOCOL_ACCESS_KEY_SECRET must be set together"))
	}
	for name, role := range map[string]string{"DB_ANON_ROLE": c.DBAnonRole, "DB_AUTHENTICATED_ROLE": c.DBAuthRole, "DB_SERVICE_ROLE": c.DBServiceRole} {
		if role == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", name))
		}
	}
	if c.MultiTenant && c.HostRegexp == "" {
		errs = append(errs, errors.New("REQUEST_X_FORWARDED_HOST_REGEXP: required when MULTI_TENANT is true (its first capture group is the tenant id)"))
	}
	if c.HostRegexp != "" {
		if _, err := regexp.Compile(c.HostRegexp); err != nil {
			errs = append(errs, fmt.Errorf("REQUEST_X_FORWARDED_HOST_REGEXP: %w", err))
		}
	}
	errs = append(errs, c.validateAdmin()...)
	errs = append(errs, c.validateEvents()...)
	errs = append(errs, c.validateMultiTenant()...)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// ConsoleOn reports whether /console is served (STOWAGE_CONSOLE; auto: embedded mode only).
func (c *Config) ConsoleOn() bool {
	return c.Console == "true" || (c.Console == "auto" && c.Embedded())
}

// validateAdmin checks the admin listener's settings, used only when ADMIN_API_KEYS is set.
func (c *Config) validateAdmin() []error {
	if c.AdminAPIKeys == "" {
		return nil
	}
	var errs []error
	if c.AdminPort == 0 || c.AdminPort > 65535 {
		errs = append(errs, fmt.Errorf("SERVER_ADMIN_PORT=%d: must be a TCP port (1-65535)", c.AdminPort))
	}
	if c.AdminPort == c.Port || c.AdminPort == c.S3Port {
		errs = append(errs, fmt.Errorf("SERVER_ADMIN_PORT=%d: must differ from SERVER_PORT and S3_PORT", c.AdminPort))
	}
	if c.EncryptionKey == "" {
		errs = append(errs, errors.New("ENCRYPTION_KEY: required when ADMIN_API_KEYS is set (S3 credential secrets and keys are stored encrypted with it)"))
	}
	return errs
}

// validateMultiTenant checks the control-plane settings, used only with MULTI_TENANT.
func (c *Config) validateMultiTenant() []error {
	if !c.MultiTenant {
		return nil
	}
	var errs []error
	if c.MTDatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_MULTITENANT_URL: required when MULTI_TENANT is true"))
	}
	if c.EncryptionKey == "" {
		errs = append(errs, errors.New("ENCRYPTION_KEY: required when MULTI_TENANT is true (tenant secrets are stored encrypted with it)"))
	}
	if c.MTDatabaseMaxConns < 1 {
		errs = append(errs, fmt.Errorf("DATABASE_MULTITENANT_MAX_CONNECTIONS=%d: must be at least 1", c.MTDatabaseMaxConns))
	}
	if c.TenantPoolCacheMax < 1 {
		errs = append(errs, fmt.Errorf("TENANT_POOL_CACHE_MAX_ENTRIES=%d: must be at least 1", c.TenantPoolCacheMax))
	}
	if err := checkMigrationStrategy(c.DBMigrationsStrategy); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// adminKeys is ADMIN_API_KEYS split at commas.
func (c *Config) adminKeys() []string {
	var keys []string
	for k := range strings.SplitSeq(string(c.AdminAPIKeys), ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Embedded reports whether serve starts its own Postgres.
func (c *Config) Embedded() bool { return c.DatabaseURL == "" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ConfigTable renders every variable as a Markdown table; README.md embeds its output and a
// test keeps the two equal.
func ConfigTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, tag := range configFields() {
		name := "`" + tag.names[0] + "`"
		if len(tag.names) > 1 {
			name += " (`" + strings.Join(tag.names[1:], "`, `") + "`)"
		}
		def := tag.def
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		help := tag.help
		if tag.enum != nil {
			help += " (" + strings.Join(tag.enum, " \\| ") + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, help)
	}
	return b.String()
}
