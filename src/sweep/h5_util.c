/* h5_util.c: HDF5 helpers shared by the results file's writer (results.c) and its reader for
 * `eosweep status` (status.c). */
#include "h5_util.h"

#include "eos_common.h"

#include <stdio.h>
#include <stdlib.h>

void eos_h5_close(hid_t *id)
{
    if (*id < 0) return;
    hid_t saved = H5Eget_current_stack();
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    if (saved >= 0) H5Eset_current_stack(saved);
    *id = H5I_INVALID_HID;
}

int eos_h5_read_str_attr(hid_t loc, const char *name, char *buf, size_t len, int *absent)
{
    int rc = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    char *tmp = NULL;
    htri_t ex;
    buf[0] = '\0';
    *absent = 0;
    EOS_CHECK_H5(ex = H5Aexists(loc, name));
    if (!ex) {
        *absent = 1;
        return 0;
    }
    EOS_CHECK_H5(a = H5Aopen(loc, name, H5P_DEFAULT));
    EOS_CHECK_H5(ft = H5Aget_type(a));
    if (H5Tget_class(ft) != H5T_STRING) {
        *absent = 1;
        goto fail;
    }
    htri_t vl;
    EOS_CHECK_H5(vl = H5Tis_variable_str(ft));
    EOS_CHECK_H5(mt = H5Tcopy(H5T_C_S1));
    if (vl) {
        char *p = NULL;
        EOS_CHECK_H5(H5Tset_size(mt, H5T_VARIABLE));
        EOS_CHECK_H5(H5Tset_cset(mt, H5Tget_cset(ft)));
        EOS_CHECK_H5(H5Aread(a, mt, &p));
        snprintf(buf, len, "%s", p ? p : "");
        H5free_memory(p);
    } else {
        size_t n = H5Tget_size(ft);
        EOS_CHECK(n > 0, EOS_ERR_HDF5, "HDF5 call failed: H5Tget_size (attribute '%s')", name);
        EOS_CHECK_H5(H5Tset_size(mt, n + 1));
        EOS_CHECK_H5(H5Tset_cset(mt, H5Tget_cset(ft)));
        EOS_ALLOC(tmp, n + 1);
        EOS_CHECK_H5(H5Aread(a, mt, tmp));
        snprintf(buf, len, "%s", tmp);
    }
fail:
    free(tmp);
    eos_h5_close(&mt);
    eos_h5_close(&ft);
    eos_h5_close(&a);
    return rc;
}
