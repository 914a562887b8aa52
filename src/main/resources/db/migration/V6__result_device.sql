-- The device each image's inference ran on (issue 15, the recovery ladder): 'cuda', or 'cpu' for a CPU model, a
-- model that could not be loaded on CUDA, or an image the GPU had no memory for. The job summary's device and
-- images_by_device come from these rows, so a job resumed by another worker reports every image. Null for rows
-- stored before this column existed.
ALTER TABLE job_results ADD COLUMN device text;
