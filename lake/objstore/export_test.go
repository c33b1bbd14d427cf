package objstore

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Test hooks for the external test package.

// RetryerFor exposes the retryer NewS3 configures.
var RetryerFor = newRetryer

// WithCompletedUploadRecovery returns the per-call option that installs the
// recovery of a completed multipart upload whose response was lost.
func WithCompletedUploadRecovery(b *S3) func(*s3.Options) {
	return func(o *s3.Options) { o.APIOptions = append(o.APIOptions, b.recoverCompletedUpload) }
}
