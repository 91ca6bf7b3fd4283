/* record_visit.c: a C host of the replica, compiled against the cbindgen header. It opens a replica, receives a
 * grid cell with one household through a sync answer, records a door-knock visit, checks that the next sync
 * request carries it and that a bad id is refused with a typed status, then closes. Exit 0 on success.
 * Usage: record_visit <replica file> */
#include <stdio.h>
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

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <replica file>\n", argv[0]);
        return 2;
    }
    char *error = NULL;
    LinliReplica *replica = linli_replica_open(argv[1], DEVICE, USER, "volunteer", &error);
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
    printf("%d passed, %d failed\n", 7 - failures, failures);
    return failures == 0 ? 0 : 1;
}
