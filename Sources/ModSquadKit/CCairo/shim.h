// Cairo for the plotting layer; macros and variadic helpers wrapped as inline functions.
#ifndef MODSQUAD_CCAIRO_SHIM_H
#define MODSQUAD_CCAIRO_SHIM_H
#include <cairo/cairo.h>
static inline int msq_cairo_version(void) { return CAIRO_VERSION; }
static inline cairo_format_t msq_cairo_format_argb32(void) { return CAIRO_FORMAT_ARGB32; }
#endif
