#include <greet.h>

int main(int argc, char **argv) {
    return greet_write(argc > 1 ? argv[1] : "world") < 0;
}
