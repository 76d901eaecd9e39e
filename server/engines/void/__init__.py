"""The VOID engine: CogVideoX-Fun-V1.5-5b-InP with the VOID checkpoints, on diffusers blocks."""
