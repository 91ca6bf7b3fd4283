/* record_visit.c: a C host of the replica, compiled against the cbindgen header. It opens a replica, receives a
 * grid cell with one household through a sync answer, records a door-knock visit, checks that the next sync
 * request carries it and that a bad id is refused with a typed status, then closes. With a key (64 hex digits,
 * the encrypted run of ffi/tests/run.sh) the replica is encrypted: a wrong key is then refused with
 * LINLI_STATUS_WRONG_KEY and a re-key moves it to a new key; without one, a key is refused by the plain build
 * with LINLI_STATUS_INVALID. Exit 0 on success.
 * Usage: record_visit <replica file> [<key hex>] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "linli_ffi.h"

#define DEVICE "0b7c3c4e-8f0a-4c55-9f39-3b1d6a0e2a11"
#define USER "5e0c1b6a-2d4f-4a8e-8c1e-6f7a9b0c1d22"
#define ADMIN "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c33"
#define ADMIN_DEVICE "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b66"
#define GRID "3c2b1a09-8f7e-4d6c-9b5a-493827161544"
#define HOUSEHOLD "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2955"

static int check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
    }
    return ok ? 0 : 1;
}

static int parse_key(const char *hex, uint8_t key[32]) {
    if (strlen(hex) != 64) {
        return 0;
    }
    for (int i = 0; i < 32; i++) {
        char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end = NULL;
        key[i] = (uint8_t)strtoul(byte, &end, 16);
        if (end != byte + 2) {
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    uint8_t key[32];
    int encrypted = argc == 3;
    if ((argc != 2 && argc != 3) || (encrypted && !parse_key(argv[2], key))) {
        fprintf(stderr, "usage: %s <replica file> [<key: 64 hex digits>]\n", argv[0]);
        return 2;
    }
    char *error = NULL;
    LinliReplica *replica = encrypted
        ? linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", key, sizeof key, &error)
        : linli_replica_open(argv[1], DEVICE, USER, "volunteer", &error);
    if (replica == NULL) {
        fprintf(stderr, "open failed: %s\n", error ? error : "?");
        linli_string_free(error);
        return 1;
    }

    const char *answer =
        "{\"protocol\":1,\"acked\":[],\"cursor\":3,\"has_more\":false,"
        "\"server_time\":{\"wall_ms\":1764288000000,\"logical\":0},\"ops\":["
        "{\"v\":1,\"id\":\"0193a8c0-0000-7000-8000-000000000001\",\"replica\":\"" ADMIN_DEVICE "\","
        "\"author\":\"" ADMIN "\",\"time\":{\"wall_ms\":1764288000000,\"logical\":1},\"kind\":\"grid.create\","
        "\"entity\":\"" GRID "\",\"body\":{\"name\":\"g\",\"community\":\"c\"}},"
        "{\"v\":1,\"id\":\"0193a8c0-0000-7000-8000-000000000002\",\"replica\":\"" ADMIN_DEVICE "\","
        "\"author\":\"" ADMIN "\",\"time\":{\"wall_ms\":1764288000000,\"logical\":2},\"kind\":\"grid.add_household\","
        "\"entity\":\"" GRID "\",\"body\":{\"household\":\"" HOUSEHOLD "\",\"building\":\"3\",\"unit\":\"2\","
        "\"room\":\"501\",\"elderly_alone\":true}},"
        "{\"v\":1,\"id\":\"0193a8c0-0000-7000-8000-000000000003\",\"replica\":\"" ADMIN_DEVICE "\","
        "\"author\":\"" ADMIN "\",\"time\":{\"wall_ms\":1764288000000,\"logical\":3},\"kind\":\"grid.add_member\","
        "\"entity\":\"" GRID "\",\"body\":{\"user\":\"" USER "\",\"role\":\"butler\"}}]}";
    int failures = 0;
    LinliStatus status = linli_replica_apply_sync_response(replica, (const uint8_t *)answer, strlen(answer), &error);
    if (status != LINLI_STATUS_OK) {
        fprintf(stderr, "apply failed (%d): %s\n", (int)status, error ? error : "?");
        linli_string_free(error);
        linli_replica_close(replica);
        return 1;
    }

    char *entry_id = NULL;
    status = linli_replica_record_visit(replica, GRID, HOUSEHOLD, true, "unwell", "feels dizzy", &entry_id, &error);
    if (status != LINLI_STATUS_OK) {
        fprintf(stderr, "record_visit failed (%d): %s\n", (int)status, error ? error : "?");
        linli_string_free(error);
        linli_replica_close(replica);
        return 1;
    }
    failures += check(entry_id != NULL && strlen(entry_id) == 36, "an entry id is returned");

    char *request = NULL;
    status = linli_replica_prepare_sync(replica, &request, &error);
    failures += check(status == LINLI_STATUS_OK, "prepare_sync succeeds");
    failures += check(request != NULL && strstr(request, entry_id) != NULL, "the request carries the visit");
    failures += check(request != NULL && strstr(request, "\"ticket.create\"") != NULL,
                      "the health flag raised a follow-up ticket");
    linli_string_free(request);
    linli_string_free(entry_id);

    status = linli_replica_record_visit(replica, "not-a-uuid", HOUSEHOLD, true, NULL, NULL, NULL, &error);
    failures += check(status == LINLI_STATUS_INVALID, "a malformed id is refused as invalid");
    failures += check(error != NULL && strstr(error, "grid_id") != NULL, "the error names the field");
    linli_string_free(error);
    error = NULL;

    status = linli_replica_record_visit(replica, GRID, HOUSEHOLD, false, "sneezing", NULL, NULL, &error);
    failures += check(status == LINLI_STATUS_INVALID, "an unknown health flag is refused");
    linli_string_free(error);

    linli_replica_close(replica);
    int checks = 7;

    uint8_t other[32];
    memset(other, 0x11, sizeof other);
    error = NULL;
    if (encrypted) {
        LinliReplica *wrong = linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", other, sizeof other, &error);
        failures += check(wrong == NULL, "a wrong key opens nothing");
        failures += check(error != NULL && strstr(error, "wrong_key") != NULL, "the error says wrong_key");
        linli_string_free(error);
        error = NULL;
        wrong = linli_replica_open(argv[1], DEVICE, USER, "volunteer", &error);
        failures += check(wrong == NULL, "no key opens nothing");
        linli_string_free(error);
        error = NULL;
        replica = linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", key, sizeof key, &error);
        failures += check(replica != NULL, "the key opens it again");
        status = linli_replica_rekey(replica, other, sizeof other, &error);
        failures += check(status == LINLI_STATUS_OK, "rekey succeeds");
        linli_replica_close(replica);
        replica = linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", key, sizeof key, &error);
        failures += check(replica == NULL, "the old key fails after rekey");
        linli_string_free(error);
        error = NULL;
        replica = linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", other, sizeof other, &error);
        failures += check(replica != NULL, "the new key opens it");
        linli_replica_close(replica);
        checks += 7;
    } else {
        LinliReplica *keyed = linli_replica_open_with_key(argv[1], DEVICE, USER, "volunteer", other, sizeof other, &error);
        failures += check(keyed == NULL && error != NULL && strncmp(error, "invalid:", 8) == 0 &&
                              strstr(error, "sqlcipher") != NULL,
                          "a plain build refuses a key as invalid");
        linli_string_free(error);
        checks += 1;
    }
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
