int crc_table_ready = 1;
int crc_init(void) { return crc_table_ready; }
