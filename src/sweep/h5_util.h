/* h5_util.h: HDF5 helpers of the sweep room (internal). */
#ifndef EOS_H5_UTIL_H
#define EOS_H5_UTIL_H

#include <hdf5.h>
#include <stddef.h>

/* Close any HDF5 id and set it to H5I_INVALID_HID (a negative id is left alone), keeping the
 * current error stack: cleanup after a failure must not erase HDF5's reason before it is
 * reported. */
void eos_h5_close(hid_t *id);

/* Read a string attribute (variable-length or fixed) into buf [len]. Returns 0 (*absent when
 * there is none, or it is not a string) or an EOS_ERR_* status. */
int eos_h5_read_str_attr(hid_t loc, const char *name, char *buf, size_t len, int *absent);

#endif
