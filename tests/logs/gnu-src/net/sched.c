void trace_net_queue_packet(int len);
int qdisc_enqueue(int len) { trace_net_queue_packet(len); return 0; }
