-- Back to visits listed in `entries` again (rebuilt from `visits`; their `updated_seq` is lost and written as 0),
-- and the entity index.
INSERT INTO entries (id, kind, volunteer, grid, status, recorded_ms, activity, minutes, approved_minutes, updated_seq)
    SELECT entry_id, 'visit', volunteer, grid, CASE WHEN voided THEN 'void' ELSE 'recorded' END, visited_ms,
           NULL, NULL, 0, 0
    FROM visits;
CREATE INDEX op_log_entity ON op_log (entity);
