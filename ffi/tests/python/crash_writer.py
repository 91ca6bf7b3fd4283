# crash_writer.py: a child process for test_a_killed_writer_leaves_whole_writes_only. It records door-knock visits
# in a loop (every third with a health flag, so two ops per write) and prints the count after each commit; the
# test kills it with SIGKILL mid-loop.
import sys

import linli_ffi as L
import wire

path, device, user, grid, household = sys.argv[1:6]
replica = L.Replica.open(path, L.DeviceIdentity(device_id=device, user_id=user, role=L.Role.VOLUNTEER), key=wire.KEY)
n = 0
while True:
    flag = L.HealthFlag.FALL if n % 3 == 2 else None
    replica.record_visit(L.VisitInput(grid_id=grid, household_id=household, seen=n % 2 == 0, health=flag,
                                      needs=[], notes=f"round {n}"))
    n += 1
    print(n, flush=True)
