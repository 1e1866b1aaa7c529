/* upstream.c - being written (see upstream.h). */
