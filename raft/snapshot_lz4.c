/*
 * snapshot_lz4.c - the LZ4 frame snapshots travel in (see
 * snapshot_lz4.h).
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot_lz4.h"

void cr_snapshot_lz4_prefs(LZ4F_preferences_t *prefs, uint64_t content_size)
{
    memset(prefs, 0, sizeof *prefs);
    /* A damaged file or message fails its checksum, not the decoder. */
    prefs->frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs->frameInfo.contentSize = content_size;
}

size_t cr_snapshot_lz4_header(uint64_t content_size, void *out)
{
    LZ4F_preferences_t prefs;
    LZ4F_cctx *lz4;
    size_t len;

    cr_snapshot_lz4_prefs(&prefs, content_size);
    if (LZ4F_isError(LZ4F_createCompressionContext(&lz4, LZ4F_VERSION))) {
        return 0;
    }
    len = LZ4F_compressBegin(lz4, out, LZ4F_HEADER_SIZE_MAX, &prefs);
    LZ4F_freeCompressionContext(lz4);
    return LZ4F_isError(len) ? 0 : len;
}

bool cr_snapshot_lz4_is_frame(const void *data, size_t len)
{
    static const unsigned char magic[4] = {0x04, 0x22, 0x4d, 0x18};

    return len >= sizeof magic && memcmp(data, magic, sizeof magic) == 0;
}

int cr_snapshot_lz4_decode(const void *data, size_t len, void **out,
                           size_t *out_len)
{
    LZ4F_dctx *d;
    LZ4F_frameInfo_t info;
    size_t hdr = len, dst_len, src_len, rv;
    void *dst = NULL;

    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
        return -1;
    }
    rv = LZ4F_getFrameInfo(d, &info, data, &hdr);
    if (LZ4F_isError(rv) || info.contentSize == 0 ||
        info.contentSize > SIZE_MAX ||
        (dst = malloc((size_t)info.contentSize)) == NULL) {
        LZ4F_freeDecompressionContext(d);
        return -1;
    }
    dst_len = (size_t)info.contentSize;
    src_len = len - hdr;
    /* 0: the frame ended and its checksum matched; LZ4 also checks that
     * it held exactly contentSize bytes. */
    rv = LZ4F_decompress(d, dst, &dst_len, (const char *)data + hdr, &src_len,
                         NULL);
    LZ4F_freeDecompressionContext(d);
    if (rv != 0 || dst_len != info.contentSize || src_len != len - hdr) {
        free(dst);
        return -1;
    }
    *out = dst;
    *out_len = dst_len;
    return 0;
}
