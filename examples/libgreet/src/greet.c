#include <stdio.h>
#include "greet.h"

int greet_write(const char *name) {
    return printf("Hello, %s!\n", name);
}

const char *greet_version(void) {
    return "1.0.0";
}
