/* manifest.c - being written (see manifest.h). */
