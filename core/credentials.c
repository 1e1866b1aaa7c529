/* credentials.c - being written (see credentials.h). */
