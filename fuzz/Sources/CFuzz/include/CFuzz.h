// libFuzzer's driver entry (compiler-rt's FuzzerInterface.h), for fuzz targets whose main is Swift's.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
