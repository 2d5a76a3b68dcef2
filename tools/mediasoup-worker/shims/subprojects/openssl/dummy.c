/* mediasoup's meson.build link_whole()s a static library of every dependency
 * (only for its optional libmediasoup-worker target); the system-library shim
 * hands it this empty one. The real library comes from dependency(). */
int ms_sysdep_shim_dummy(void) { return 0; }
