SELECT name, sum(hours[1])::int8, sum(hours[24])::int8 FROM profile_events WHERE name = ANY(ARRAY['open']) GROUP BY name;
