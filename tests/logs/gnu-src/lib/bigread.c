int far_func(void);
int big_last(void) { return far_func() + 1; }
