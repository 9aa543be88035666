-- Whether the DPO keeps a note out of the person's own copy of their data (it names
-- someone else, say). Notes written before this choice existed were all kept out, so
-- they stay out; a new note goes into the copy unless the DPO says otherwise.
ALTER TABLE privacy_request_notes ADD COLUMN withheld BOOLEAN NOT NULL DEFAULT 1;
