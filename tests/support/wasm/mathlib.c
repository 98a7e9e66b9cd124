/* A library module (WASI reactor) for ImportModules: exports add() and scale(). */
__attribute__((export_name("add"))) int add(int a, int b) { return a + b; }
__attribute__((export_name("scale"))) int scale(int a) { return a * 10; }
