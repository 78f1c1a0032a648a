/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_CRYPTO_H
#define DEMO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef CONFIG_CRYPTO_SHA256
void sha256_digest(const uint8_t *data, size_t len, uint8_t out[32]);
#endif

#endif
