__attribute__((section(".far.text"))) int far_func(void) { return 1; }
