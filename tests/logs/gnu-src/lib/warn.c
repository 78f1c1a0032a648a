int warn_check(int flags)
{
	int unused_total;
	return flags & 1;
}
