#include <greet.h>

int main(void) {
    return greet_write("test") < 0;
}
