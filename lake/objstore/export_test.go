package objstore

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Test hooks for the external test package.

// RetryerFor exposes the retryer NewS3 configures, for an endpoint that has
// answered before.
func RetryerFor(o S3Options) aws.Retryer {
	r := &reach{}
	r.answered.Store(true)
	return newRetryer(o, r)
}

// WithCompletedUploadRecovery returns the per-call option that installs the
// recovery of a completed multipart upload whose response was lost.
func WithCompletedUploadRecovery(b *S3) func(*s3.Options) {
	return func(o *s3.Options) { o.APIOptions = append(o.APIOptions, b.recoverCompletedUpload) }
}
