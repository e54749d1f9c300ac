//go:build cgo && !novips

// See vips_shim.h. The prototypes below are libvips' and GLib's own (ABI 42, libvips >= 8.12);
// TestShimMatchesHeaders compiles this file with -DSTOWAGE_VIPS_CHECK against the installed
// headers, where any prototype or enum value that differs is a compile error.
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "vips_shim.h"

#ifdef STOWAGE_VIPS_CHECK
#include <vips/vips.h>
#endif

typedef struct _VipsArea VipsArea;
typedef struct _VipsArrayDouble VipsArrayDouble;
typedef void (*sv_log_func)(const char *domain, int level, const char *msg, void *data);

int vips_init(const char *argv0);
int vips_version(int flag);
void vips_concurrency_set(int concurrency);
void vips_cache_set_max(int max);
void vips_cache_set_max_mem(size_t max_mem);
void vips_cache_set_max_files(int max_files);
unsigned long vips_type_find(const char *basename, const char *nickname);
const char *vips_error_buffer(void);
void vips_error_clear(void);
VipsImage *vips_image_new_from_buffer(const void *buf, size_t len, const char *option_string, ...);
int vips_image_get_width(const VipsImage *image);
int vips_image_get_height(const VipsImage *image);
int vips_image_get_n_pages(VipsImage *image);
int vips_image_get_page_height(VipsImage *image);
unsigned long vips_image_get_typeof(const VipsImage *image, const char *name);
int vips_image_get_int(const VipsImage *image, const char *name, int *out);
int vips_image_get_interpretation(const VipsImage *image);
int vips_image_hasalpha(VipsImage *image);
int vips_thumbnail_buffer(void *buf, size_t len, VipsImage **out, int width, ...);
int vips_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height, ...);
int vips_flatten(VipsImage *in, VipsImage **out, ...);
VipsArrayDouble *vips_array_double_new(const double *array, int n);
void vips_area_unref(VipsArea *area);
int vips_jpegsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
int vips_pngsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
int vips_webpsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
int vips_heifsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
int vips_gifsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
int vips_tiffsave_buffer(VipsImage *in, void **buf, size_t *len, ...);
void g_object_unref(void *object);
void g_free(void *mem);
unsigned int g_log_set_handler(const char *log_domain, int log_levels, sv_log_func log_func, void *user_data);

// libvips' enum values used here (ABI-stable).
#define SV_INTERESTING_NONE 0
#define SV_SIZE_FORCE 3
#define SV_HEIF_COMPRESSION_AV1 4
#define SV_TIFF_COMPRESSION_LZW 5
#define SV_TIFF_PREDICTOR_HORIZONTAL 2
#define SV_PNG_FILTER_NONE 0x08
#define SV_INTERPRETATION_RGB16 25
#define SV_INTERPRETATION_GREY16 26
#define SV_LOG_LEVEL_MASK (~3)
#define SV_LOG_LEVEL_WARNING (1 << 4)
#define SV_ABI 42

#ifdef STOWAGE_VIPS_CHECK
_Static_assert(SV_INTERESTING_NONE == VIPS_INTERESTING_NONE, "VIPS_INTERESTING_NONE");
_Static_assert(SV_SIZE_FORCE == VIPS_SIZE_FORCE, "VIPS_SIZE_FORCE");
_Static_assert(SV_HEIF_COMPRESSION_AV1 == VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "AV1");
_Static_assert(SV_TIFF_COMPRESSION_LZW == VIPS_FOREIGN_TIFF_COMPRESSION_LZW, "LZW");
_Static_assert(SV_TIFF_PREDICTOR_HORIZONTAL == VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL, "predictor");
_Static_assert(SV_PNG_FILTER_NONE == VIPS_FOREIGN_PNG_FILTER_NONE, "png filter");
_Static_assert(SV_INTERPRETATION_RGB16 == VIPS_INTERPRETATION_RGB16, "RGB16");
_Static_assert(SV_INTERPRETATION_GREY16 == VIPS_INTERPRETATION_GREY16, "GREY16");
_Static_assert(SV_LOG_LEVEL_MASK == G_LOG_LEVEL_MASK, "G_LOG_LEVEL_MASK");
_Static_assert(SV_LOG_LEVEL_WARNING == G_LOG_LEVEL_WARNING, "G_LOG_LEVEL_WARNING");
_Static_assert(SV_ABI == VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE, "ABI");
#endif

// One pointer per function, typed from the prototype above.
#define SV_FUNCS(X)                                                                   \
	X(vips_init) X(vips_version) X(vips_concurrency_set) X(vips_cache_set_max)          \
	X(vips_cache_set_max_mem) X(vips_cache_set_max_files) X(vips_type_find)             \
	X(vips_error_buffer) X(vips_error_clear) X(vips_image_new_from_buffer)              \
	X(vips_image_get_width) X(vips_image_get_height) X(vips_image_get_n_pages)          \
	X(vips_image_get_page_height) X(vips_image_get_typeof) X(vips_image_get_int)        \
	X(vips_image_get_interpretation) X(vips_image_hasalpha) X(vips_thumbnail_buffer)    \
	X(vips_extract_area) X(vips_flatten) X(vips_array_double_new) X(vips_area_unref)    \
	X(vips_jpegsave_buffer) X(vips_pngsave_buffer) X(vips_webpsave_buffer)              \
	X(vips_heifsave_buffer) X(vips_gifsave_buffer) X(vips_tiffsave_buffer)              \
	X(g_object_unref) X(g_free) X(g_log_set_handler)

#define SV_DECLARE(f) static __typeof__(&f) p_##f;
SV_FUNCS(SV_DECLARE)

static void *sv_handle;
static int sv_effort_ok; // heifsave has "effort" (8.13+) rather than "speed"

extern void stowageVipsLog(char *domain, int level, char *msg);

// Warnings and worse go to the server's log (at debug: a bad upload is not the server's
// problem and its error is answered anyway); chatter below warning is dropped.
static void sv_log(const char *domain, int level, const char *msg, void *data) {
	(void)data;
	if ((level & SV_LOG_LEVEL_MASK) <= SV_LOG_LEVEL_WARNING)
		stowageVipsLog((char *)(domain ? domain : "VIPS"), level & SV_LOG_LEVEL_MASK, (char *)(msg ? msg : ""));
}

static char *sv_strdup(const char *s) { return strdup(s ? s : ""); }

int sv_open(const char *name, char **err) {
	*err = NULL;
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*err = sv_strdup(dlerror());
		return -1;
	}
	if (sv_handle) { // bound already (a second renderer in the process): same library only
		if (h != sv_handle) {
			dlclose(h);
			*err = sv_strdup("another libvips is loaded in this process already");
			return -1;
		}
		dlclose(h); // drop the extra reference
		return 0;
	}
#define SV_BIND(f)                                                    \
	p_##f = (__typeof__(p_##f))dlsym(h, #f);                          \
	if (!p_##f) {                                                     \
		*err = sv_strdup("libvips lacks " #f);                        \
		dlclose(h);                                                   \
		return -1;                                                    \
	}
	SV_FUNCS(SV_BIND)
#undef SV_BIND
	if (p_vips_version(3) - p_vips_version(5) != SV_ABI || p_vips_version(0) != 8 || p_vips_version(1) < 12) {
		*err = sv_strdup("libvips ABI 42, version 8.12 or later, is required");
		dlclose(h);
		return -1;
	}
	sv_effort_ok = p_vips_version(1) >= 13;
	p_g_log_set_handler("VIPS", SV_LOG_LEVEL_MASK, sv_log, NULL);
	if (p_vips_init("stowage") != 0) {
		*err = sv_error();
		return -1; // libvips stays mapped: a half-started libvips must not be unloaded
	}
	p_vips_concurrency_set(1);
	p_vips_cache_set_max(0);
	p_vips_cache_set_max_mem(0);
	p_vips_cache_set_max_files(0);
	sv_handle = h;
	return 0;
}

char *sv_error(void) {
	char *s = sv_strdup(p_vips_error_buffer());
	p_vips_error_clear();
	return s;
}

int sv_can_avif(void) { return p_vips_type_find("VipsOperation", "heifsave_buffer") != 0; }

int sv_header(const void *buf, size_t len, int *w, int *h, int *pages, int *page_height, int *orientation) {
	VipsImage *img = p_vips_image_new_from_buffer(buf, len, "", NULL);
	if (!img)
		return -1;
	*w = p_vips_image_get_width(img);
	*h = p_vips_image_get_height(img);
	*pages = p_vips_image_get_n_pages(img);
	*page_height = p_vips_image_get_page_height(img);
	*orientation = 1;
	if (p_vips_image_get_typeof(img, "orientation") != 0 && p_vips_image_get_int(img, "orientation", orientation) != 0) {
		*orientation = 1;
		p_vips_error_clear();
	}
	p_g_object_unref(img);
	return 0;
}

// sv_thumbnail decodes with shrink-on-load to exactly w×h, applying the EXIF orientation;
// multi-page inputs give their first page.
int sv_thumbnail(const void *buf, size_t len, VipsImage **out, int w, int h) {
	return p_vips_thumbnail_buffer((void *)buf, len, out, w, "height", h, "crop", SV_INTERESTING_NONE,
	                               "size", SV_SIZE_FORCE, NULL);
}

static void sv_replace(VipsImage **img, VipsImage *next) {
	p_g_object_unref(*img);
	*img = next;
}

int sv_extract(VipsImage **img, int left, int top, int w, int h) {
	VipsImage *out = NULL;
	if (p_vips_extract_area(*img, &out, left, top, w, h, NULL) != 0)
		return -1;
	sv_replace(img, out);
	return 0;
}

int sv_flatten_white(VipsImage **img) {
	int i = p_vips_image_get_interpretation(*img);
	int wide = i == SV_INTERPRETATION_RGB16 || i == SV_INTERPRETATION_GREY16;
	double white[3] = {255, 255, 255};
	if (wide)
		white[0] = white[1] = white[2] = 65535;
	VipsArrayDouble *bg = p_vips_array_double_new(white, 3);
	VipsImage *out = NULL;
	int rc = p_vips_flatten(*img, &out, "background", bg, "max_alpha", wide ? 65535.0 : 255.0, NULL);
	p_vips_area_unref((VipsArea *)bg);
	if (rc != 0)
		return -1;
	sv_replace(img, out);
	return 0;
}

int sv_has_alpha(VipsImage *img) { return p_vips_image_hasalpha(img) != 0; }

int sv_save(VipsImage *img, int format, int q, void **buf, size_t *len) {
	switch (format) {
	case SV_JPEG:
		return p_vips_jpegsave_buffer(img, buf, len, "Q", q, "strip", 1, "interlace", 1, NULL);
	case SV_WEBP:
		return p_vips_webpsave_buffer(img, buf, len, "Q", q, "strip", 1, NULL);
	case SV_AVIF:
		if (sv_effort_ok)
			return p_vips_heifsave_buffer(img, buf, len, "Q", q, "strip", 1, "compression", SV_HEIF_COMPRESSION_AV1,
			                              "bitdepth", 8, "effort", 2, NULL);
		return p_vips_heifsave_buffer(img, buf, len, "Q", q, "strip", 1, "compression", SV_HEIF_COMPRESSION_AV1,
		                              "speed", 7, NULL);
	case SV_GIF:
		return p_vips_gifsave_buffer(img, buf, len, NULL);
	case SV_TIFF:
		return p_vips_tiffsave_buffer(img, buf, len, "Q", q, "strip", 1, "compression", SV_TIFF_COMPRESSION_LZW,
		                              "predictor", SV_TIFF_PREDICTOR_HORIZONTAL, NULL);
	default:
		return p_vips_pngsave_buffer(img, buf, len, "strip", 1, "compression", 6, "filter", SV_PNG_FILTER_NONE, NULL);
	}
}

void sv_unref(VipsImage *img) {
	if (img)
		p_g_object_unref(img);
}

void sv_free(void *buf) { p_g_free(buf); }
