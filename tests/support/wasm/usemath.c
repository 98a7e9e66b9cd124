/* Imports add() and scale() from the module linked as "mathlib" and prints scale(add(2, 3)). */
#include <stdio.h>

__attribute__((import_module("mathlib"), import_name("add"))) int add(int a, int b);
__attribute__((import_module("mathlib"), import_name("scale"))) int scale(int a);

int main(void) {
    printf("scale(add(2, 3)) = %d\n", scale(add(2, 3)));
    return 0;
}
