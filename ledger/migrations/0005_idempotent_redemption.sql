-- 0005: a join token remembers what its redemption issued, so that a
-- client which lost the answer (a crash, a cut connection) can redeem the
-- same token again with the same key and get the same certificate,
-- instead of finding its name burned.
ALTER TABLE join_tokens ADD COLUMN redeemed_key BLOB;  -- SHA-256 of the CSR's SubjectPublicKeyInfo
ALTER TABLE join_tokens ADD COLUMN redeemed_cert BLOB; -- the issued certificate, PEM
