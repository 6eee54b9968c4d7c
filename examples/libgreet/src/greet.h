#ifndef GREET_H
#define GREET_H
/* Writes "Hello, <name>!" and a newline to stdout; returns the bytes written or -1. */
int greet_write(const char *name);
/* The library's version, "1.0.0". */
const char *greet_version(void);
#endif
