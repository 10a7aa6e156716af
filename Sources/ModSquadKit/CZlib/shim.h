// zlib for gzip (IDX files of Fashion-MNIST) and PNG-free compression needs.
#ifndef MODSQUAD_CZLIB_SHIM_H
#define MODSQUAD_CZLIB_SHIM_H
#include <zlib.h>
static inline int msq_inflate_init2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
#endif
