"""What a job is: the spec a host fills in (:mod:`.spec`) and the names its outputs get
(:mod:`.naming`). Standard library only: host Pythons import these."""
