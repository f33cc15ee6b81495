//! Hello, world through the C library's buffered stdio.
#include <stdio.h>

int main(void) {
    printf("hello from a static C program\n");
    printf("ok: hello\n");
    return 0;
}
