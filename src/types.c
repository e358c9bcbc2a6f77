/*
 * types.c - names of clearances and access levels, and the validity of
 * database names and document ids.
 *
 * The names are RavenDB's and case-sensitive, so that JSON written for
 * RavenDB works here unchanged.
 */
#include <string.h>

#include <certraft/types.h>

static const char *const clearance_names[] = {
    [CR_CLEARANCE_NONE] = "None",
    [CR_CLEARANCE_VALID_USER] = "ValidUser",
    [CR_CLEARANCE_OPERATOR] = "Operator",
    [CR_CLEARANCE_CLUSTER_ADMIN] = "ClusterAdmin",
    [CR_CLEARANCE_CLUSTER_NODE] = "ClusterNode",
};

static const char *const access_names[] = {
    [CR_ACCESS_NONE] = "None",
    [CR_ACCESS_READ] = "Read",
    [CR_ACCESS_READ_WRITE] = "ReadWrite",
    [CR_ACCESS_ADMIN] = "Admin",
};

const char *cr_clearance_name(enum cr_clearance c)
{
    if ((unsigned)c > CR_CLEARANCE_CLUSTER_NODE) {
        return "Unknown";
    }
    return clearance_names[c];
}

enum cr_status cr_clearance_parse(const char *s, enum cr_clearance *out,
                                  struct cr_error *err)
{
    /* "None" is not something a user may ask for. */
    for (unsigned c = CR_CLEARANCE_VALID_USER; c <= CR_CLEARANCE_CLUSTER_NODE;
         c++) {
        if (s != NULL && strcmp(s, clearance_names[c]) == 0) {
            *out = (enum cr_clearance)c;
            return CR_OK;
        }
    }
    return cr_error_set(err, CR_EINVAL,
                        "unknown SecurityClearance '%.64s': use ClusterAdmin, "
                        "Operator, ValidUser or ClusterNode",
                        s != NULL ? s : "");
}

const char *cr_access_name(enum cr_access a)
{
    if ((unsigned)a > CR_ACCESS_ADMIN) {
        return "Unknown";
    }
    return access_names[a];
}

enum cr_status cr_access_parse(const char *s, enum cr_access *out,
                               struct cr_error *err)
{
    for (unsigned a = CR_ACCESS_READ; a <= CR_ACCESS_ADMIN; a++) {
        if (s != NULL && strcmp(s, access_names[a]) == 0) {
            *out = (enum cr_access)a;
            return CR_OK;
        }
    }
    return cr_error_set(err, CR_EINVAL,
                        "unknown database access '%.64s': use Admin, "
                        "ReadWrite or Read",
                        s != NULL ? s : "");
}

bool cr_database_name_valid(const char *name)
{
    size_t n;

    if (name == NULL || name[0] == '\0' || name[0] == '.') {
        return false;
    }
    for (n = 0; name[n] != '\0'; n++) {
        char c = name[n];
        if (n >= 128) {
            return false;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

bool cr_document_id_valid(const char *id)
{
    size_t n;

    if (id == NULL || id[0] == '\0') {
        return false;
    }
    for (n = 0; id[n] != '\0'; n++) {
        unsigned char c = (unsigned char)id[n];
        if (n >= 512 || c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}
