/* Never ends: a pure computation loop (no host calls), stopped only by fuel or the timeout. */
int main(void) {
    volatile unsigned long long n = 0;
    for (;;) n++;
    return 0;
}
