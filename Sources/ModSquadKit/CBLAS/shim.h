// OpenBLAS through one header: cblas plus the OpenBLAS-specific queries
// (core name, thread count) used by `msq doctor` and the core-type check.
#ifndef MODSQUAD_CBLAS_SHIM_H
#define MODSQUAD_CBLAS_SHIM_H
#include <cblas.h>
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
char *openblas_get_config(void);
#endif
