// The libvips shim: libvips is opened with dlopen() on the first render, so a server that
// never renders never maps it (and its ~100 dependencies). Only -ldl is linked.
#ifndef STOWAGE_VIPS_SHIM_H
#define STOWAGE_VIPS_SHIM_H

#include <stddef.h>

typedef struct _VipsImage VipsImage;

// sv_open dlopens name, binds every libvips function the renderer calls and starts libvips
// (one libvips thread per operation, its operation cache off). 0 on success; otherwise -1
// and *err (static text or a dlerror() copy the caller frees with free()).
int sv_open(const char *name, char **err);

// sv_error returns and clears libvips' error buffer (the caller frees it with free()).
char *sv_error(void);

int sv_can_avif(void);
int sv_header(const void *buf, size_t len, int *w, int *h, int *pages, int *page_height, int *orientation);
int sv_thumbnail(const void *buf, size_t len, VipsImage **out, int w, int h);
int sv_extract(VipsImage **img, int left, int top, int w, int h);
int sv_flatten_white(VipsImage **img);
int sv_has_alpha(VipsImage *img);

enum { SV_JPEG, SV_PNG, SV_WEBP, SV_AVIF, SV_GIF, SV_TIFF };
int sv_save(VipsImage *img, int format, int quality, void **buf, size_t *len);

void sv_unref(VipsImage *img);
void sv_free(void *buf);

#endif
