-- bootstrap tokens from a file are marked, so a start never revives or revokes an admin's
-- The file's token was written with token_id md5(token_sha256); a rotation's replacement
-- (same name, random id) is an admin's token.
alter table api_tokens add column from_file boolean not null default false;
update api_tokens set from_file = true where token_id = md5(token_sha256)::uuid;
