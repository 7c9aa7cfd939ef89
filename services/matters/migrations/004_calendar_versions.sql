-- Which publication of central's arrangement (PUT /central/api/v1/calendar/{year}, version 1, 2, …) a year's row
-- holds; NULL for one a hall manager installed by hand. A publication is installed only when newer.
ALTER TABLE calendar_arrangements ADD COLUMN central_version integer;
